// Beyond the paper: augmentation against hand-computed transforms, schedules, weight
// decay and Nesterov against hand-computed updates, and lanes without the options
// training exactly as before.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/augment.hpp"
#include "cpu/sgd.hpp"
#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/schedule.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// 1 2 3 / 4 5 6 / 7 8 9, background 0.
const std::vector<float> kImage = {1, 2, 3, 4, 5, 6, 7, 8, 9};

std::vector<float> transformed(const Affine& A) {
  std::vector<float> out;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) out.push_back(augment_pixel(kImage.data(), 3, 3, A, y, x, 0.0f));
  return out;
}

void expect_near_all(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "pixel " << i;
}

TEST(Augment, HandComputedShiftRotationAndScale) {
  // One pixel to the right: the left column is background.
  EXPECT_EQ(transformed(affine_of(0, 1, 0, 1, 3, 3)),
            (std::vector<float>{0, 1, 2, 0, 4, 5, 0, 7, 8}));
  // One pixel up.
  EXPECT_EQ(transformed(affine_of(-1, 0, 0, 1, 3, 3)),
            (std::vector<float>{4, 5, 6, 7, 8, 9, 0, 0, 0}));
  // A quarter turn counter-clockwise as displayed: the top-right corner comes top-left.
  expect_near_all(transformed(affine_of(0, 0, 90, 1, 3, 3)), {3, 6, 9, 2, 5, 8, 1, 4, 7});
  // Twice the size about the centre: the corner reads halfway between four pixels,
  // (1 + 2 + 4 + 5) / 4 = 3; the centre stays 5.
  const auto zoom = transformed(affine_of(0, 0, 0, 2, 3, 3));
  EXPECT_FLOAT_EQ(zoom[0], 3.0f);
  EXPECT_FLOAT_EQ(zoom[4], 5.0f);
  EXPECT_FLOAT_EQ(zoom[2], (2 + 3 + 5 + 6) / 4.0f);
  // Half a pixel right: bilinear between neighbours, the background at the edge.
  expect_near_all(transformed(affine_of(0, 0.5f, 0, 1, 3, 3)),
                  {0.5f, 1.5f, 2.5f, 2, 4.5f, 5.5f, 3.5f, 7.5f, 8.5f});
}

TEST(Augment, DrawsStayWithinTheirRangesAndSpreadOverThem) {
  float lo = 0, hi = 0;
  for (uint32_t image = 0; image < 2000; ++image) {
    const Affine A = augment_transform(7, 3, image, 2.0f, 0.0f, 0.0f, 16, 16);
    EXPECT_LE(std::abs(A.tx), 2.0f);
    EXPECT_LE(std::abs(A.ty), 2.0f);
    EXPECT_FLOAT_EQ(A.a00, 1.0f);  // no rotation, no scale
    lo = std::min(lo, A.tx);
    hi = std::max(hi, A.tx);
  }
  EXPECT_LT(lo, -1.9f);
  EXPECT_GT(hi, 1.9f);
}

// The CPU op: strength 0 is the identity bit for bit; a lane's images depend on its own
// seed and the step only, so a run repeats and lanes differ.
TEST(Augment, CpuOpIsReproducibleAndPerLane) {
  const AugmentDims d{4, 2, 1, 16, 16};
  const auto x = random_floats(size_t(4) * 2 * 256, 41);
  std::vector<float> y(x.size()), y2(x.size());
  const std::vector<uint64_t> seeds = {5, 6};
  const std::vector<float> none(2 * kAugmentFields, 0.0f);
  cpu::augment(d, none.data(), seeds.data(), 9, -1.0f, x.data(), y.data());
  EXPECT_EQ(y, x);
  const std::vector<float> on = {2, 10, 0.1f, 0, 0, 2, 10, 0.1f, 0, 0};
  cpu::augment(d, on.data(), seeds.data(), 9, -1.0f, x.data(), y.data());
  cpu::augment(d, on.data(), seeds.data(), 9, -1.0f, x.data(), y2.data());
  EXPECT_EQ(y, y2);
  EXPECT_NE(y, x);
  cpu::augment(d, on.data(), seeds.data(), 10, -1.0f, x.data(), y2.data());
  EXPECT_NE(y, y2);  // another step, other transforms
}

// The smoothing kernel: normalised, symmetric, cut at 4 sigma; sigma 0 is no smoothing.
TEST(Elastic, TapsAreANormalisedGaussianCutAtFourSigma) {
  float w[2 * kMaxElasticRadius + 1];
  for (float sigma : {0.5f, 1.0f, 2.3f, 4.0f, kMaxElasticSigma}) {
    const int R = elastic_taps(sigma, w);
    EXPECT_EQ(R, int(4 * sigma + 0.5f));
    ASSERT_LE(R, kMaxElasticRadius);
    double sum = 0;
    for (int k = -R; k <= R; ++k) {
      sum += w[k + R];
      EXPECT_FLOAT_EQ(w[k + R], w[R - k]);
      EXPECT_NEAR(w[k + R] / w[R], std::exp(-0.5 * k * k / (double(sigma) * sigma)), 1e-6);
    }
    EXPECT_NEAR(sum, 1.0, 1e-6) << sigma;
  }
  EXPECT_EQ(elastic_taps(0, w), 0);
  EXPECT_EQ(w[0], 1.0f);
  // A sigma training refuses, reaching a kernel directly, stays within the taps (the
  // array is guarded by one float on each side that must stay untouched).
  float guarded[2 * kMaxElasticRadius + 3];
  std::fill(std::begin(guarded), std::end(guarded), -7.0f);
  EXPECT_EQ(elastic_taps(100.0f, guarded + 1), kMaxElasticRadius);
  EXPECT_EQ(guarded[0], -7.0f);
  EXPECT_EQ(guarded[2 * kMaxElasticRadius + 2], -7.0f);
  double sum = 0;
  for (int k = 1; k <= 2 * kMaxElasticRadius + 1; ++k) sum += guarded[k];
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

// The two passes give alpha times the 2-D Gaussian smoothing of the noise (zero outside
// the image), computed here directly in double.
TEST(Elastic, FieldIsTheGaussianSmoothingOfItsNoiseTimesAlpha) {
  const AugmentDims d{1, 1, 1, 12, 10, true};
  const float s[kAugmentFields] = {0, 0, 0, 7.5f, 1.7f};
  std::vector<Displacement> rows, field;
  cpu::elastic_field(d, s, 99, 5, 3, rows, field);
  ASSERT_EQ(field.size(), size_t(12 * 10));
  float w[2 * kMaxElasticRadius + 1];
  const int R = elastic_taps(1.7f, w);
  double largest = 0;
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 10; ++x) {
      double uy = 0, ux = 0;
      for (int r = std::max(0, y - R); r <= std::min(11, y + R); ++r)
        for (int c = std::max(0, x - R); c <= std::min(9, x + R); ++c) {
          const Displacement n = elastic_noise(99, 5, 3, uint32_t(r * 10 + c));
          const double k = double(w[r - y + R]) * w[c - x + R];
          uy += k * n.y;
          ux += k * n.x;
        }
      EXPECT_NEAR(field[y * 10 + x].y, 7.5 * uy, 1e-5) << y << "," << x;
      EXPECT_NEAR(field[y * 10 + x].x, 7.5 * ux, 1e-5) << y << "," << x;
      largest = std::max({largest, std::abs(7.5 * uy), std::abs(7.5 * ux)});
    }
  EXPECT_GT(largest, 0.5);  // it moves pixels
  // Another image or step draws other noise.
  std::vector<Displacement> other;
  cpu::elastic_field(d, s, 99, 6, 3, rows, other);
  EXPECT_NE(other[0].y, field[0].y);
}

// An elastic lane distorts its images; a lane without keeps them exactly as with no
// elastic lane at all; the whole op repeats bit for bit.
TEST(Elastic, OnlyItsLaneIsDistortedAndTheOpRepeats) {
  AugmentDims d{3, 2, 1, 16, 16, false};
  const auto x = random_floats(size_t(3) * 2 * 256, 43);
  const std::vector<uint64_t> seeds = {5, 6};
  const std::vector<float> affine = {2, 10, 0.1f, 0, 0, 1, 5, 0, 0, 0};
  std::vector<float> plain(x.size()), y(x.size()), y2(x.size());
  cpu::augment(d, affine.data(), seeds.data(), 4, -1.0f, x.data(), plain.data());
  std::vector<float> elastic = affine;
  elastic[kAugmentElasticAlpha] = 6;
  elastic[kAugmentElasticSigma] = 2;
  cpu::augment(d, elastic.data(), seeds.data(), 4, -1.0f, x.data(), y.data());
  EXPECT_EQ(y, plain);  // d.elastic off: alpha does not count
  d.elastic = true;
  cpu::augment(d, elastic.data(), seeds.data(), 4, -1.0f, x.data(), y.data());
  cpu::augment(d, elastic.data(), seeds.data(), 4, -1.0f, x.data(), y2.data());
  EXPECT_EQ(y, y2);
  int lane0_differs = 0;
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 2; ++t)
      for (int p = 0; p < 256; ++p) {
        const size_t i = (size_t(b) * 2 + t) * 256 + p;
        if (t == 1) {
          EXPECT_EQ(y[i], plain[i]) << i;  // lane 1 has no elastic distortion
        }
        lane0_differs += t == 0 && y[i] != plain[i];
      }
  EXPECT_GT(lane0_differs, 3 * 200);
}

TEST(Schedule, RatesPerEpoch) {
  const Schedule step = parse_schedule("step:2:0.5", 0, 10);
  const float want_step[] = {1, 1, 0.5f, 0.5f, 0.25f};
  for (int e = 0; e < 5; ++e) EXPECT_FLOAT_EQ(scheduled_lr(1.0f, step, e), want_step[e]);
  const Schedule cosine = parse_schedule("cosine", 0, 4);
  EXPECT_FLOAT_EQ(scheduled_lr(0.2f, cosine, 0), 0.2f);
  EXPECT_FLOAT_EQ(scheduled_lr(0.2f, cosine, 2), 0.1f);
  EXPECT_NEAR(scheduled_lr(0.2f, cosine, 3), 0.2f * (1 + std::cos(M_PI * 0.75)) / 2, 1e-7);
  const Schedule warm = parse_schedule("constant", 2, 10);
  EXPECT_FLOAT_EQ(scheduled_lr(0.3f, warm, 0), 0.1f);
  EXPECT_FLOAT_EQ(scheduled_lr(0.3f, warm, 1), 0.2f);
  EXPECT_FLOAT_EQ(scheduled_lr(0.3f, warm, 2), 0.3f);
  EXPECT_TRUE(parse_schedule("constant", 0, 5).is_constant());
  for (const char* bad : {"linear", "step:0:0.5", "step:2:1.5", "step:2", "step:x:0.1"})
    EXPECT_THROW(parse_schedule(bad, 0, 5), InputError) << bad;
}

// Two slices, a weight and a bias, one lane: decay on the weight only; Nesterov's step.
TEST(Sgd, WeightDecayOnWeightsOnlyAndNesterovByHand) {
  const ParamSlice slices[] = {{0, 2, 0, 0}, {2, 1, 0, kSliceIsBias}};
  const float lr[] = {0.1f}, mu[] = {0.9f}, wd[] = {0.5f};
  const int32_t nag[] = {1};
  const LaneState state[] = {LaneState::Training};
  std::vector<double> p = {1.0, -2.0, 3.0}, v = {0.5, 0.0, 1.0};
  const std::vector<double> g = {0.2, 0.4, -0.1};
  cpu::sgd_momentum(slices, 2, 1, lr, mu, state, p.data(), g.data(), v.data(), wd, nag);
  // The rates are floats (0.9f is 0.899999976...): hand values hold to about 1e-7.
  // weight 0: g' = 0.2 + 0.5 * 1 = 0.7; v = 0.9 * 0.5 + 0.7 = 1.15;
  //           p = 1 - 0.1 * (0.7 + 0.9 * 1.15) = 0.8265
  EXPECT_NEAR(v[0], 1.15, 1e-6);
  EXPECT_NEAR(p[0], 0.8265, 1e-6);
  // weight 1: g' = 0.4 - 1 = -0.6; v = -0.6; p = -2 - 0.1 * (-0.6 - 0.54) = -1.886
  EXPECT_NEAR(p[1], -1.886, 1e-6);
  // bias: no decay: v = 0.9 - 0.1 = 0.8; p = 3 - 0.1 * (-0.1 + 0.72) = 2.938
  EXPECT_NEAR(v[2], 0.8, 1e-6);
  EXPECT_NEAR(p[2], 2.938, 1e-6);
}

const UspsData& small_data() {
  static const UspsData d = usps_head(300, 100, 100);
  return d;
}

// A lane without the new options trains bit for bit as it does alone, even beside a
// lane that uses all of them; the epoch's rate is reported.
TEST(Beyond, LanesWithoutTheOptionsAreUntouched) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, small_data());
  LaneSettings plain{0.02f, 0.9f, 0.3f, 3};
  LaneSettings rich = plain;
  rich.seed = 4;
  rich.weight_decay = 5e-4f;
  rich.nesterov = true;
  rich.schedule = parse_schedule("cosine", 1, 3);
  rich.augment = {2, 10, 0.1f};
  Trainer pack(*cpu, dd, model_preset("cnn"), {plain, rich}, {32});
  Trainer alone(*cpu, dd, model_preset("cnn"), {plain}, {32});
  for (int e = 0; e < 2; ++e) {
    const auto rows = pack.train_epoch();
    const auto single = alone.train_epoch();
    EXPECT_EQ(rows[0].train_loss, single[0].train_loss);
    EXPECT_FLOAT_EQ(float(rows[0].lr), 0.02f);
    EXPECT_FLOAT_EQ(float(rows[1].lr), scheduled_lr(0.02f, rich.schedule, e));
  }
  EXPECT_EQ(extract_lane(pack.plan(), pack.parameters(), 0), alone.parameters());
  EXPECT_NE(extract_lane(pack.plan(), pack.parameters(), 1),
            extract_lane(pack.plan(), pack.parameters(), 0));
}

}  // namespace
}  // namespace sgdlab::test
