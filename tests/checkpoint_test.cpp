// Checkpoints (docs/checkpoints.md): the safetensors format written and read back, every
// kind of bad file refused, PyTorch's layouts, and model checkpoints round trip.
#include <gtest/gtest.h>

#include <cstring>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A file from a header text and a data part, as a hostile writer might make it.
std::string file_of(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

TEST(Safetensors, RoundTripKeepsNamesShapesDataAndMetadata) {
  const std::vector<Tensor> tensors = {{"a.weight", {2, 3}, {1, 2, 3, 4, 5, 6}},
                                       {"a.bias", {2}, {-1.5f, 0.25f}},
                                       {"empty", {0}, {}}};
  const std::string bytes = safetensors_bytes(tensors, {{"format", "x"}, {"note", "é"}});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);  // the data starts aligned
  EXPECT_EQ(bytes.size(), 8 + n + 8 * sizeof(float));
  const SafetensorsFile f = parse_safetensors(bytes, "t");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.find("a.weight")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.find("a.weight")->data, tensors[0].data);
  EXPECT_EQ(f.find("a.bias")->data, tensors[1].data);
  EXPECT_EQ(f.metadata.at("note"), "é");
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["a.weight"]["data_offsets"], nlohmann::json::parse("[0, 24]"));
  EXPECT_EQ(header["a.bias"]["data_offsets"], nlohmann::json::parse("[24, 32]"));
  EXPECT_EQ(header["a.bias"]["dtype"], "F32");
}

TEST(Safetensors, EveryBadFileIsOneInputError) {
  const std::string good = safetensors_bytes({{"w", {2}, {1, 2}}}, {});
  auto error_of = [](const std::string& bytes) {
    return input_error([&] { parse_safetensors(bytes, "bad.safetensors"); });
  };
  EXPECT_NE(error_of(good.substr(0, 5)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(le64(1000) + good.substr(8)).find("beyond the file"), std::string::npos);
  EXPECT_NE(error_of(file_of("{\"w\": [", "")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(file_of("{\"w\": 1e999}", "")).find("not valid JSON"), std::string::npos);
  const std::string two = std::string(16, '\0');
  EXPECT_NE(error_of(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             two))
                .find("overlaps"),
            std::string::npos);
  EXPECT_NE(error_of(file_of(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                             std::string(8, '\0')))
                .find("beyond the data"),
            std::string::npos);
  EXPECT_NE(error_of(file_of(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})",
                             std::string(4, '\0')))
                .find("dtype \"F16\""),
            std::string::npos);
  EXPECT_NE(error_of(file_of(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                             std::string(8, '\0')))
                .find("do not hold shape"),
            std::string::npos);
  EXPECT_NE(error_of(file_of(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
                             std::string(8, '\0')))
                .find("not a list of sizes"),
            std::string::npos);
  EXPECT_NE(error_of(file_of(R"({"__metadata__":{"x":1}})", "")).find("not a string"),
            std::string::npos);
}

// Linear [out, in] (sgdlab keeps [in, out]), Conv2d [out, in, k, k], local2d
// [Ho * Wo, out, in, k, k]: element by element against the flat buffer.
TEST(ModelCheckpoint, TensorsFollowPyTorchLayouts) {
  const NetworkPlan single(model_preset("lcnn"), 1);
  // Distinct values in every slice; the padding between slices stays 0, as in training.
  std::vector<float> params(single.param_count(), 0.0f);
  for (const auto& s : single.slices())
    for (size_t i = s.slice.offset; i < s.slice.offset + s.slice.count; ++i) params[i] = float(i);
  SafetensorsFile f;
  f.tensors = model_tensors(single, params);
  const Tensor* local = f.find("local1.weight");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->shape, (std::vector<int64_t>{14 * 14, 8, 1, 3, 3}));
  const Tensor* dense = f.find("dense1.weight");
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ(dense->shape, (std::vector<int64_t>{128, 144}));
  const LayerPlan* d = nullptr;
  for (const auto& l : single.layers())
    if (l.label == "dense1") d = &l;
  const size_t w0 = single.slices()[d->tensor_slices[0]].slice.offset;
  // sgdlab's W[i][o] at w0 + i * 128 + o is PyTorch's weight[o][i].
  EXPECT_EQ(dense->data[5 * 144 + 7], params[w0 + 7 * 128 + 5]);
  EXPECT_EQ(params_from_tensors(single, f, "t"), params);
  const NetworkPlan cnn(model_preset("cnn"), 1);
  std::vector<float> cp(cnn.param_count(), 0.5f);
  SafetensorsFile g;
  g.tensors = model_tensors(cnn, cp);
  EXPECT_EQ(g.find("conv2.weight")->shape, (std::vector<int64_t>{64, 32, 3, 3}));
  EXPECT_EQ(g.find("conv2.bias")->shape, (std::vector<int64_t>{64}));
}

TEST(ModelCheckpoint, SaveLoadRoundTripAndBadFiles) {
  TempDir dir;
  ModelCheckpoint c;
  c.model = model_preset("mlp");
  const NetworkPlan single(c.model, 1);
  c.params = initial_parameters(single, {LaneInit{3}});
  c.hyperparameters = {{"lr", 0.05}, {"seed", "3"}, {"batch", 32}};
  c.epoch = 7;
  c.scaling.divide = 255;
  c.scaling.mean = {0.1f};
  c.scaling.stddev = {0.3f};
  c.data_format = "idx";
  save_model_checkpoint(dir / "m.safetensors", c);
  const ModelCheckpoint back = load_model_checkpoint(dir / "m.safetensors");
  EXPECT_EQ(back.params, c.params);
  EXPECT_EQ(model_to_json(back.model), model_to_json(c.model));
  EXPECT_EQ(back.epoch, 7);
  EXPECT_EQ(back.scaling.mean, c.scaling.mean);
  EXPECT_EQ(back.hyperparameters, c.hyperparameters);
  // A tensor missing, and one of another shape than the model file says.
  SafetensorsFile f = read_safetensors(dir / "m.safetensors");
  std::vector<Tensor> missing, reshaped;
  for (const Tensor& t : f.tensors) {
    if (t.name != "dense2.bias") missing.push_back(t);
    Tensor r = t;
    if (t.name == "dense1.weight") r.shape = {256, 128};
    reshaped.push_back(r);
  }
  write_safetensors(dir / "missing.safetensors", missing, f.metadata);
  EXPECT_NE(input_error([&] {
              load_model_checkpoint(dir / "missing.safetensors");
            }).find("no tensor dense2.bias"),
            std::string::npos);
  write_safetensors(dir / "shape.safetensors", reshaped, f.metadata);
  EXPECT_NE(input_error([&] {
              load_model_checkpoint(dir / "shape.safetensors");
            }).find("dense1.weight has shape [256, 128] but the model needs [128, 256]"),
            std::string::npos);
  const std::string bytes = read_bytes(dir / "m.safetensors");
  write_bytes(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 10));
  EXPECT_NE(
      input_error([&] { load_model_checkpoint(dir / "cut.safetensors"); }).find("beyond the data"),
      std::string::npos);
}

// Metadata that fuzz_checkpoint found or that reading it as an int wrapped: each is one
// InputError naming the key, never a JSON library exception or a wrapped count.
TEST(ResumeCheckpoint, BadMetadataIsOneInputError) {
  TempDir dir;
  const std::vector<Tensor> tensors = {{"params", {2}, {1, 2}}, {"velocity", {2}, {0, 0}}};
  const std::map<std::string, std::string> good = {
      {"format", "sgdlab-resume"}, {"epoch", "2"},   {"global_step", "5000000000"},
      {"lane_state", "[0, 1]"},    {"config", "{}"}, {"metrics", "[]"}};
  write_safetensors(dir / "good.safetensors", tensors, good);
  const ResumeCheckpoint c = load_resume_checkpoint(dir / "good.safetensors");
  EXPECT_EQ(c.state.epoch, 2);
  EXPECT_EQ(c.state.global_step, 5000000000ll);  // a step count needs 64 bits
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"metrics", "[{\"grad_l2\": 0.969E467285}]"},  // beyond a double: out_of_range
      {"epoch", "4294967298"},                       // was read as int(n): epoch 2
      {"lane_state", "[4294967297]"},                // was get<int>(): state 1
      {"config", "{"}};
  for (const auto& [key, value] : bad) {
    auto meta = good;
    meta[key] = value;
    write_safetensors(dir / "bad.safetensors", tensors, meta);
    try {
      load_resume_checkpoint(dir / "bad.safetensors");
      ADD_FAILURE() << key << " = " << value << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sgdlab::test
