// The ONNX export's model (host/onnx): its operators for every layer kind, its input,
// outputs and metadata, the opsets it writes and refuses, and the CLI's refusals. What
// the runtimes compute from it is tests/onnx_export_test.sh's (OpenCV, ONNX Runtime).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"
#include "sgdlab/engine/layer_type.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/onnx/onnx_model.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

const std::string kEveryLayer = std::string(SGDLAB_TESTS_DIR) + "/data/models/every-layer.json";

ModelCheckpoint trained_looking(const std::string& model) {
  ModelCheckpoint c;
  c.model = load_model(model);
  const NetworkPlan plan(c.model, 1);
  c.params = initial_parameters(plan, {LaneInit{7}});
  c.hyperparameters = {{"lr", 0.05}, {"batch", 32}};
  c.epoch = 2;
  c.scaling.divide = 255;
  c.scaling.mean = {0.25f};
  c.scaling.stddev = {0.5f};
  c.data_format = "idx";
  return c;
}

onnx::ModelProto exported(const ModelCheckpoint& c, int opset = kOnnxDefaultOpset) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(onnx_model_bytes(c, opset, "test")));
  return m;
}

std::vector<std::string> dims(const onnx::ValueInfoProto& v) {
  std::vector<std::string> out;
  for (const auto& d : v.type().tensor_type().shape().dim())
    out.push_back(d.has_dim_param() ? d.dim_param() : std::to_string(d.dim_value()));
  return out;
}

TEST(OnnxExport, TheEveryLayerTestModelHasEveryKind) {
  std::set<LayerKind> kinds;
  for (const LayerSpec& l : load_model(kEveryLayer).layers) kinds.insert(l.kind);
  EXPECT_EQ(kinds.size(), all_layer_kinds().size())
      << "a new layer kind belongs in tests/data/models/every-layer.json, which "
         "tests/onnx_export_test.sh exports and runs";
}

TEST(OnnxExport, EveryLayerKindBecomesItsOperators) {
  const onnx::ModelProto m = exported(trained_looking(kEveryLayer));
  std::set<std::string> ops;
  for (const auto& n : m.graph().node()) ops.insert(n.op_type());
  const std::set<std::string> want = {"Conv",    "BatchNormalization", "Relu",    "MaxPool",
                                      "Reshape", "Transpose",          "Tanh",    "AveragePool",
                                      "Sigmoid", "GlobalAveragePool",  "Flatten", "Gemm",
                                      "Softmax"};
  EXPECT_EQ(ops, want);  // dropout left out, local2d as Conv, Reshape and Transpose
}

TEST(OnnxExport, InputOutputsAndMetadataAreAsDocumented) {
  const ModelCheckpoint c = trained_looking("cnn");
  const onnx::ModelProto m = exported(c);
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(dims(m.graph().input(0)), (std::vector<std::string>{"N", "1", "16", "16"}));
  ASSERT_EQ(m.graph().output_size(), 2);
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(m.graph().output(1).name(), "probabilities");
  EXPECT_EQ(dims(m.graph().output(1)), (std::vector<std::string>{"N", "10"}));
  EXPECT_EQ(m.graph().node(m.graph().node_size() - 1).op_type(), "Softmax");
  EXPECT_EQ(m.producer_name(), "sgdlab");
  std::map<std::string, std::string> meta;
  for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
  EXPECT_EQ(meta["sgdlab_version"], build_version());
  EXPECT_EQ(model_from_json(nlohmann::json::parse(meta["model"]), "meta").layers.size(),
            c.model.layers.size());
  EXPECT_EQ(nlohmann::json::parse(meta["hyperparameters"]), c.hyperparameters);
  EXPECT_EQ(nlohmann::json::parse(meta["scaling"]), c.scaling.to_json());
  EXPECT_EQ(meta["pixel_range"], "[0, 255]");
  EXPECT_EQ(meta["preprocessing"],
            "input[n, c, h, w] = (pixel / 255 - mean[c]) / std[c], pixels in [0, 255] as the "
            "idx data stores them");
  // The weights are the checkpoint's, in PyTorch's layout: conv1.weight's first value.
  const NetworkPlan plan(c.model, 1);
  for (const auto& t : m.graph().initializer())
    if (t.name() == "conv1.weight") {
      float first = 0;
      std::memcpy(&first, t.raw_data().data(), sizeof first);
      EXPECT_EQ(first, c.params[plan.slices()[0].slice.offset]);
    }
}

TEST(OnnxExport, WritesEveryOpsetFrom13ToTheLibrarysNewest) {
  const ModelCheckpoint c = trained_looking("lcnn");
  ASSERT_GE(onnx_max_opset(), kOnnxDefaultOpset);
  for (int opset = kOnnxMinOpset; opset <= onnx_max_opset(); ++opset) {
    const onnx::ModelProto m = exported(c, opset);
    EXPECT_EQ(m.opset_import(0).version(), opset);
    EXPECT_EQ(m.ir_version(), opset <= 14 ? 7 : 8) << opset;
  }
}

TEST(OnnxExport, RefusesAnOpsetOutsideTheRange) {
  const ModelCheckpoint c = trained_looking("mlp");
  EXPECT_NE(input_error([&] { onnx_model_bytes(c, 12, "t"); }).find("--opset 12: too low"),
            std::string::npos);
  const int over = onnx_max_opset() + 1;
  EXPECT_NE(input_error([&] { onnx_model_bytes(c, over, "t"); }).find("too high"),
            std::string::npos);
}

// One line and exit code 2 for each mistake; nothing written.
TEST(OnnxExport, TheCommandRefusesMixedOrMissingModes) {
  TempDir dir;
  const std::string out = dir / "x.onnx";
  const std::vector<std::string> mistakes = {
      "",
      "--onnx " + out + " --optuna-journal j.log",
      "--onnx " + out,
      "--checkpoint c --onnx " + out + " --study s",
      "--study s --name n --optuna-journal j --opset 13",
      "--checkpoint " + (dir / "missing.safetensors") + " --onnx " + out,
      "--checkpoint " + dir.path() + " --onnx " + out};
  for (const std::string& args : mistakes) {
    std::string printed;
    EXPECT_EQ(run_command(sgdlab_binary() + " export " + args, &printed), 2) << args;
    EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1) << printed;
    EXPECT_EQ(printed.rfind("sgdlab: ", 0), 0u) << printed;
    EXPECT_FALSE(std::filesystem::exists(out)) << args;
  }
}

}  // namespace
}  // namespace sgdlab::test
