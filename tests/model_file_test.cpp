// Model files: the presets written as files equal the built-in definitions (spec and
// training, bit for bit); every kind of bad file is one InputError naming the layer; a
// LeNet-5-style file trains on 28x28 IDX data made from the USPS images.
#include <gtest/gtest.h>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/data_files.hpp"

namespace sgdlab::test {
namespace {

std::string models_dir() {
  return std::string(SGDLAB_TESTS_DIR) + "/../data/models";
}

std::string bad_model(const std::string& json) {
  try {
    model_from_json(nlohmann::json::parse(json), "m.json");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << json;
  return "";
}

void expect_same_spec(const ModelSpec& a, const ModelSpec& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.input.C, b.input.C);
  EXPECT_EQ(a.input.H, b.input.H);
  EXPECT_EQ(a.input.W, b.input.W);
  EXPECT_EQ(a.classes, b.classes);
  EXPECT_EQ(a.note, b.note);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) EXPECT_TRUE(a.layers[i] == b.layers[i]) << i;
}

TEST(ModelFile, PresetFilesEqualTheBuiltInDefinitions) {
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    SCOPED_TRACE(m);
    const ModelSpec file = load_model(models_dir() + "/" + m + ".json");
    expect_same_spec(file, model_preset(m));
    expect_same_spec(model_from_json(model_to_json(file), "round trip"), file);
  }
}

// Not only the same spec: the same training, bit for bit, on the CPU.
TEST(ModelFile, PresetFilesTrainBitIdenticallyToTheBuiltIns) {
  const UspsData data = usps_head(300, 100, 100);
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, data);
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    auto train = [&](const ModelSpec& spec) {
      Trainer t(*cpu, dd, spec, {{0.02f, 0.9f, 0.3f, 7}, {0.01f, 0.5f, 0.1f, 8}}, {32});
      const auto rows = t.train_epoch();
      return std::make_pair(t.parameters(), rows[1].val_loss);
    };
    EXPECT_EQ(train(load_model(models_dir() + "/" + m + ".json")), train(model_preset(m))) << m;
  }
}

TEST(ModelFile, EveryBadFileNamesTheLayerAndWhatWasExpected) {
  const std::string head = R"({"input": [1, 8, 8], "classes": 10, "layers": )";
  auto msg_of = [&](const std::string& layers) { return bad_model(head + layers + "}"); };
  EXPECT_NE(msg_of(R"([{"type": "conv3d", "out": 4}])").find("layer 1: unknown layer type"),
            std::string::npos);
  EXPECT_NE(msg_of(R"([{"type": "dense"}])").find("layer 1 dense: expected \"out\""),
            std::string::npos);
  EXPECT_NE(msg_of(R"([{"type": "dense", "out": -3}])").find("must be at least 1, got -3"),
            std::string::npos);
  EXPECT_NE(msg_of(R"([{"type": "dense", "out": "ten"}])").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(msg_of(R"([{"type": "conv2d", "out": 4, "kernel": 3, "pading": 1}])")
                .find("unknown key \"pading\""),
            std::string::npos);
  const std::string shape = bad_model(
      R"({"input": [1, 6, 6], "classes": 10, "layers": [{"type": "conv2d", "out": 64,
          "kernel": 3}, {"type": "max-pool", "kernel": 2}, {"type": "conv2d", "out": 8,
          "kernel": 3}, {"type": "dense", "out": 10}]})");
  EXPECT_NE(shape.find("m.json: layer 3 conv2d: input 64x2x2 is smaller than kernel 3 with pad 0"),
            std::string::npos)
      << shape;
  EXPECT_NE(msg_of("[]").find("at least one layer"), std::string::npos);
  EXPECT_NE(msg_of(R"([{"type": "dense", "out": 7}])").find("gives 7 outputs"), std::string::npos);
  EXPECT_NE(bad_model(R"({"input": [1, 8], "classes": 10, "layers": []})").find("input"),
            std::string::npos);
  EXPECT_NE(bad_model(R"({"input": [1, 8, 8], "classes": 10, "layers": {}})").find("layers"),
            std::string::npos);
  EXPECT_NE(bad_model(R"([1, 2])").find("expected a JSON object"), std::string::npos);
  TempDir dir;
  write_bytes(dir / "broken.json", "{\"input\": [1, 8, 8],");
  try {
    load_model(dir / "broken.json");
    ADD_FAILURE() << "accepted invalid JSON";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json: not valid JSON at line 1, column 21"),
              std::string::npos);
  }
  EXPECT_THROW(load_model("resnet50"), InputError);
}

// A LeNet-5-style file on 28x28 single-channel IDX data (the USPS digits, padded):
// above chance (10%) after two epochs on 1,500 images.
TEST(ModelFile, LeNetFileTrainsAboveChanceOnIdxData) {
  TempDir dir;
  write_usps_as_idx(dir / "idx", load_usps({real_data_dir()}), 1500, 300);
  const UspsData data = load_dataset({dir / "idx"});
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, data);
  Trainer t(*cpu, dd, load_model(models_dir() + "/lenet5.json"), {{0.05f, 0.9f, 0.0f, 1}}, {32});
  t.train_epoch();
  const auto rows = t.train_epoch();
  EXPECT_GT(rows[0].val_acc, 0.5);
  EXPECT_GT(t.evaluate(Split::Test)[0].acc, 0.5);
}

}  // namespace
}  // namespace sgdlab::test
