// Test-time shifts (engine/tta.hpp): the views, the shifted images, and the probabilities
// averaged over them, against the plain inference path.
#include <gtest/gtest.h>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "sgdlab/engine/tta.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(Tta, ViewsAreTheImageThenRightLeftDownUp) {
  EXPECT_EQ(tta_views(0).size(), 1u);
  const auto v = tta_views(2);
  ASSERT_EQ(v.size(), 5u);
  const int expected[5][2] = {{0, 0}, {2, 0}, {-2, 0}, {0, 2}, {0, -2}};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(v[i].dx, expected[i][0]) << i;
    EXPECT_EQ(v[i].dy, expected[i][1]) << i;
  }
  EXPECT_THROW(tta_views(-1), InputError);
}

TEST(Tta, ShiftedImagesMovePixelsAndFillEachChannelWithItsBackground) {
  // Two images of 2 channels, 2x3 pixels: value = 100 * image + 10 * channel + pixel.
  Dataset d;
  d.image = {2, 2, 3};
  d.features = 12;
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 2; ++c)
      for (int p = 0; p < 6; ++p) d.x.push_back(float(100 * i + 10 * c + p));
  d.y = {0, 1};
  const std::vector<float> background = {-5, -7};
  const Dataset right = shifted_images(d, {1, 0}, background);
  // Row 0 of image 1, channel 1 was 110 111 112; moved right: -7 110 111.
  EXPECT_EQ(right.x[18], -7);
  EXPECT_EQ(right.x[19], 110);
  EXPECT_EQ(right.x[20], 111);
  const Dataset up = shifted_images(d, {0, -1}, background);
  // Image 0, channel 0 was rows {0 1 2}, {3 4 5}; moved up: {3 4 5}, background.
  EXPECT_EQ(std::vector<float>(up.x.begin(), up.x.begin() + 6),
            (std::vector<float>{3, 4, 5, -5, -5, -5}));
  EXPECT_EQ(up.y, d.y);
  EXPECT_EQ(shifted_images(d, {0, 0}, background).x, d.x);
  // The backgrounds tta_probabilities moves in: each channel's smallest pixel.
  EXPECT_EQ(channel_minimum(d), (std::vector<float>{0, 10}));
  d.x[6 + 2] = -3;  // image 0, channel 1, pixel 2
  EXPECT_EQ(channel_minimum(d), (std::vector<float>{0, -3}));
}

// The plain probabilities of one network with random weights on `images`.
std::vector<float> plain_probabilities(Backend& be, const ModelSpec& model,
                                       const std::vector<float>& params, const Dataset& images) {
  const UspsData data{images, images, images, ""};
  DeviceData device_data(be, data);
  Trainer trainer(be, device_data, model, {LaneSettings{}}, TrainerOptions{1});
  trainer.set_parameters(params);
  return trainer.probabilities(Split::Test);
}

TEST(Tta, ProbabilitiesAreTheMeanOverTheShiftedViews) {
  auto be = make_cpu_backend();
  const UspsData data = usps_head(8, 4, 6);
  const ModelSpec model = model_preset("cnn");
  const std::vector<float> params =
      random_floats(NetworkPlan(model, 1).param_count(), 7, -0.2f, 0.2f);
  const std::vector<float> plain = plain_probabilities(*be, model, params, data.test);
  EXPECT_EQ(tta_probabilities(*be, model, params, data.test, 0), plain);

  const std::vector<float> tta = tta_probabilities(*be, model, params, data.test, 1);
  std::vector<float> mean(plain.size(), 0.0f);
  for (const PixelShift& s : tta_views(1)) {
    // USPS pixels lie in [-1, 1]: the background is -1.
    const auto p = plain_probabilities(*be, model, params, shifted_images(data.test, s, {-1.0f}));
    for (size_t i = 0; i < p.size(); ++i) mean[i] += p[i] / 5.0f;
  }
  ASSERT_EQ(tta.size(), mean.size());
  for (size_t i = 0; i < tta.size(); ++i) EXPECT_FLOAT_EQ(tta[i], mean[i]) << i;
  EXPECT_NE(tta, plain);
}

TEST(Tta, AShiftAsLargeAsTheImageIsRefused) {
  auto be = make_cpu_backend();
  const UspsData data = usps_head(8, 4, 6);
  const ModelSpec model = model_preset("mlp");
  const std::vector<float> params(NetworkPlan(model, 1).param_count(), 0.0f);
  EXPECT_THROW(tta_probabilities(*be, model, params, data.test, 16), InputError);
  EXPECT_NO_THROW(tta_probabilities(*be, model, params, data.test, 15));
}

}  // namespace
}  // namespace sgdlab::test
