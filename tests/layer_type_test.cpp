// The layer descriptions (engine/layer_type.hpp): one per kind, each naming its own
// kind, with names that do not collide, and the facts the rest of the engine reads.
#include <gtest/gtest.h>

#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/layer_type.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(LayerType, EveryKindHasItsOwnDescriptionAndNames) {
  std::set<std::string> types, labels;
  ASSERT_EQ(all_layer_kinds().size(), size_t(kLastLayerKind) + 1);
  for (LayerKind k : all_layer_kinds()) {
    const LayerType& t = layer_type(k);
    EXPECT_EQ(t.kind(), k);
    EXPECT_TRUE(types.insert(t.type()).second) << t.type();
    EXPECT_TRUE(labels.insert(t.label()).second) << t.label();
    EXPECT_EQ(layer_kind_named(t.type()), k);
  }
  EXPECT_FALSE(layer_kind_named("layernorm"));
  EXPECT_EQ(layer_type_names(" or "),
            "dense, conv2d, local2d, max-pool, relu, sigmoid, tanh, dropout, avg-pool, "
            "global-avg-pool or batchnorm");
}

// A layer's keys are the ones its description reads: each written key is read back,
// and the plan's tensors follow the description (names, counts, PyTorch shapes).
TEST(LayerType, KeysRoundTripAndTensorsFollowTheDescription) {
  const ModelSpec m = model_from_json(
      nlohmann::json::parse(R"({"name": "all", "input": [2, 12, 12], "classes": 3, "layers": [
        {"type": "conv2d", "out": 4, "kernel": 3, "pad": 1, "stride": 1},
        {"type": "batchnorm", "eps": 0.001, "momentum": 0.2}, {"type": "relu"},
        {"type": "max-pool", "kernel": 3, "stride": 2}, {"type": "local2d", "out": 3,
        "kernel": 3, "stride": 2}, {"type": "tanh"}, {"type": "dropout"},
        {"type": "avg-pool", "kernel": 2, "stride": 1},
        {"type": "conv2d", "out": 5, "kernel": 1}, {"type": "avg-pool", "kernel": 1},
        {"type": "global-avg-pool"}, {"type": "dense", "out": 8}, {"type": "batchnorm"}, {"type": "sigmoid"},
        {"type": "dense", "out": 3}]})"),
      "test");
  const nlohmann::json back = model_to_json(m);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerType& t = layer_type(m.layers[i].kind);
    for (const auto& [key, value] : back["layers"][i].items()) {
      if (key == "type") continue;
      EXPECT_NE(std::find(t.keys().begin(), t.keys().end(), key), t.keys().end())
          << t.type() << " wrote " << key;
    }
  }
  const NetworkPlan plan(m, 2);
  size_t slices = 0;
  for (const LayerPlan& l : plan.layers()) {
    const auto tensors = layer_type(l.spec.kind).tensors(l);
    ASSERT_EQ(l.tensor_slices.size(), tensors.size()) << l.label;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const SliceInfo& s = plan.slices()[l.tensor_slices[i]];
      EXPECT_EQ(s.name, l.label + "." + tensors[i].suffix);
      EXPECT_EQ(s.slice.count, 2 * tensors[i].count);
      int64_t torch = 1;
      for (int64_t d : tensors[i].torch_shape) torch *= d;
      EXPECT_EQ(size_t(torch), tensors[i].count) << s.name;
      EXPECT_EQ(s.init == SliceInfo::Zero, tensors[i].init == LayerTensor::Zero);
      EXPECT_EQ(s.init == SliceInfo::Drawn, tensors[i].init == LayerTensor::Weights);
      EXPECT_EQ(!(s.slice.flags & kSliceNotTrained), tensors[i].trained);
      EXPECT_EQ((s.slice.flags & kSliceIsBias) != 0, !tensors[i].decays);
      ++slices;
    }
  }
  EXPECT_EQ(slices, plan.slices().size());
  // local2d: one weight per output location, leading in PyTorch's shape.
  const LayerPlan& local = plan.layers()[4];
  EXPECT_EQ(layer_type(local.spec.kind).tensors(local)[0].torch_shape,
            (std::vector<int64_t>{4, 3, 4, 3, 3}));  // 5x5 in, k 3, stride 2: 2x2 out
}

// avg-pool slides as max-pool does; global-avg-pool leaves one value per channel; a
// network that ends in global average pooling trains.
TEST(LayerType, AvgPoolShapesAndAGlobalAvgPoolNetworkLearns) {
  const ModelSpec m = model_from_json(
      nlohmann::json::parse(R"({"name": "gap", "input": [1, 16, 16], "classes": 10, "layers": [
        {"type": "conv2d", "out": 8, "kernel": 3, "pad": 1}, {"type": "relu"},
        {"type": "avg-pool", "kernel": 2}, {"type": "conv2d", "out": 10, "kernel": 3},
        {"type": "global-avg-pool"}]})"),
      "test");
  const NetworkPlan plan(m, 1);
  EXPECT_EQ(plan.layers()[2].out.H, 8);
  EXPECT_EQ(plan.layers()[4].out.C, 10);
  EXPECT_EQ(plan.layers()[4].out.H * plan.layers()[4].out.W, 1);
  EXPECT_EQ(model_to_json(m)["layers"][2], (nlohmann::json{{"type", "avg-pool"}, {"kernel", 2}}));
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(1500, 100, 100));
  Trainer t(*cpu, dd, m, {{0.05f, 0.9f, 0.0f, 1}}, TrainerOptions{16});
  const double first = t.train_epoch()[0].train_loss;
  double last = first;
  for (int e = 0; e < 3; ++e) last = t.train_epoch()[0].train_loss;
  EXPECT_LT(last, 0.6 * first);
  EXPECT_NE(input_error([] {
              model_from_json(nlohmann::json::parse(R"({"name": "x", "input": [1, 4, 4],
                "classes": 10, "layers": [{"type": "avg-pool", "kernel": 5},
                {"type": "dense", "out": 10}]})"),
                              "m.json");
            }).find("avg-pool"),
            std::string::npos);
}

TEST(LayerType, AnInputSmallerThanTheKernelNamesTheLayer) {
  const LayerSpec pool{LayerKind::MaxPool, 0, 5, 5, 0};
  try {
    layer_type(LayerKind::MaxPool).output(pool, {1, 4, 4}, "m.json: layer 2 max-pool");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "m.json: layer 2 max-pool: input 1x4x4 is smaller than kernel 5 with pad 0"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sgdlab::test
