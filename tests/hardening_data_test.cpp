// Issue #22, the data readers and memory: trailing data, raw and .gz twins, long lines,
// non-finite pixels, messages in our words (sizes, labels, dtypes, JSON), duplicate
// keys, a folder given as a file, the memory check, and weights that turn NaN while the
// loss stays finite.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "sgdlab/engine/memory.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/safetensors.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/data_files.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

void write_idx_pair(const std::string& dir, const std::string& extra_pixels, bool gz) {
  const std::string images = idx_bytes({2, 2, 2}, std::vector<uint8_t>(8, 9)) + extra_pixels;
  const std::string labels = idx_bytes({2}, {1, 2});
  std::filesystem::create_directories(dir);
  if (gz) {
    write_gzip(dir + "/train-images-idx3-ubyte.gz", images);
    write_gzip(dir + "/train-labels-idx1-ubyte.gz", labels);
  } else {
    write_bytes(dir + "/train-images-idx3-ubyte", images);
    write_bytes(dir + "/train-labels-idx1-ubyte", labels);
  }
}

TEST(IdxHardening, DataAfterWhatTheHeaderDeclaresIsRefused) {
  for (bool gz : {false, true}) {
    TempDir dir;
    write_idx_pair(dir.path(), "x", gz);
    const std::string msg = input_error([&] { read_idx_split(dir.path(), "train"); });
    EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
    EXPECT_NE(msg.find("more data than the header declares (8 bytes)"), std::string::npos) << msg;
  }
}

TEST(IdxHardening, RawAndGzipFilesThatDifferAreRefusedAndEqualOnesRead) {
  TempDir dir;
  write_idx_pair(dir.path(), "", false);
  write_idx_pair(dir.path(), "", true);
  EXPECT_EQ(read_idx_split(dir.path(), "train").size(), 2u);
  write_gzip(dir / "train-images-idx3-ubyte.gz", idx_bytes({2, 2, 2}, std::vector<uint8_t>(8, 7)));
  const std::string msg = input_error([&] { read_idx_split(dir.path(), "train"); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte and " + (dir / "train-images-idx3-ubyte.gz") +
                     " both exist and hold different data"),
            std::string::npos)
      << msg;
}

TEST(UspsHardening, ALineLongerThanTheCapIsRefusedNamingIt) {
  TempDir dir;
  write_gzip(dir / "zip.train.gz", usps_line(1) + "2" + std::string(2 << 20, ' ') + "\n");
  const std::string msg = input_error([&] { read_usps_file(dir / "zip.train.gz"); });
  EXPECT_NE(msg.find("zip.train.gz:2: line longer than 1048576 bytes"), std::string::npos) << msg;
}

void write_npz_with(const std::string& path, const std::string& x_train,
                    const std::string& y_train) {
  const std::string x_test = npy_bytes("|u1", {1, 2, 2}, std::string(4, '\0'));
  write_npz(path, {{"x_train", x_train},
                   {"y_train", y_train},
                   {"x_test", x_test},
                   {"y_test", npy_bytes("|u1", {1}, std::string(1, '\0'))}});
}

TEST(NpzHardening, ANonFinitePixelIsRefusedNamingTheFileAndTheFirstIndex) {
  TempDir dir;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -INFINITY}) {
    std::vector<float> pixels(3 * 2 * 2, 0.5f);
    pixels[6] = bad;
    pixels[9] = bad;
    write_npz_with(dir / "d.npz", npy_bytes("<f4", {3, 2, 2}, raw_bytes(pixels)),
                   npy_bytes("|u1", {3}, std::string(3, '\0')));
    const std::string msg = input_error([&] { read_npz_split(dir / "d.npz", "train", false); });
    EXPECT_NE(msg.find(dir / "d.npz" + ": x_train: element 6 (image 1) is "), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("pixels must be finite"), std::string::npos) << msg;
  }
}

TEST(NpzHardening, AUint64LabelIsShownAsTheFileHoldsIt) {
  TempDir dir;
  write_npz_with(dir / "d.npz", npy_bytes("|u1", {1, 2, 2}, std::string(4, '\0')),
                 npy_bytes("<u8", {1}, std::string(8, '\xff')));
  const std::string msg = input_error([&] { read_npz_split(dir / "d.npz", "train", false); });
  EXPECT_NE(msg.find("y_train[0] = 18446744073709551615 is not a class index"), std::string::npos)
      << msg;
}

TEST(NpzHardening, AStructuredDtypeIsNamedAsSuch) {
  TempDir dir;
  std::string x = npy_bytes("|u1", {1, 2, 2}, std::string(4, '\0'));
  const size_t at = x.find("'|u1'");
  x.replace(at, 5, "[('a','<f4')]");
  write_npz_with(dir / "d.npz", x, npy_bytes("|u1", {1}, std::string(1, '\0')));
  const std::string msg = input_error([&] { read_npz_split(dir / "d.npz", "train", false); });
  EXPECT_NE(msg.find("a structured (record) dtype is not supported"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("[("), std::string::npos) << msg;
}

std::string model_error(const std::string& text) {
  TempDir dir;
  write_bytes(dir / "m.json", text);
  return input_error([&] { load_model(dir / "m.json"); });
}

TEST(ModelFileHardening, ASizeBeyondTheLimitSaysSo) {
  const std::string head = R"({"input": [1, 8, 8], "classes": 10, "layers": )";
  std::string msg = model_error(head + R"([{"type": "dense", "out": 1000000000}]})");
  EXPECT_NE(msg.find("\"out\" is 1000000000, more than the 16777216 sgdlab takes"),
            std::string::npos)
      << msg;
  msg = model_error(R"({"input": [1, 100000, 8], "classes": 10, "layers": []})");
  EXPECT_NE(msg.find("input height is 100000, more than the 65536 sgdlab takes"), std::string::npos)
      << msg;
  msg = model_error(R"({"input": [1, 0, 8], "classes": 10, "layers": []})");
  EXPECT_NE(msg.find("input height must be an integer >= 1, got 0"), std::string::npos) << msg;
}

TEST(ModelFileHardening, ADuplicateKeyIsRefused) {
  const std::string msg =
      model_error(R"({"input": [1, 16, 16], "classes": 10, "classes": 10, "layers": []})");
  EXPECT_NE(msg.find("m.json: key 'classes' is given twice"), std::string::npos) << msg;
  const std::string inner = model_error(
      R"({"input": [1, 16, 16], "classes": 10, "layers": [{"type": "dense", "out": 10, "out": 5}]})");
  EXPECT_NE(inner.find("key 'out' is given twice"), std::string::npos) << inner;
}

TEST(ModelFileHardening, InvalidJsonSaysWhereInOurWords) {
  const std::string msg = model_error("{\"input\": [1, 16, 16],\n \"classes\": 10 \"layers\": []}");
  EXPECT_NE(msg.find("m.json: not valid JSON at line 2, column 23"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("parse_error"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("syntax error"), std::string::npos) << msg;
  const std::string big = model_error(R"({"input": [1, 16, 16], "classes": 1e999})");
  EXPECT_NE(big.find("a number beyond the range of a double"), std::string::npos) << big;
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

TEST(SafetensorsHardening, ATensorNamedTwiceIsRefused) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  const std::string bytes = le64(header.size()) + header + std::string(8, '\0');
  const std::string msg = input_error([&] { parse_safetensors(bytes, "c.safetensors"); });
  EXPECT_NE(msg.find("c.safetensors: header: key 'w' is given twice"), std::string::npos) << msg;
}

TEST(FilesHardening, AFolderIsNotReadAsAnEmptyFile) {
  TempDir dir;
  const std::string msg = input_error([&] { read_safetensors(dir.path()); });
  EXPECT_NE(msg.find(dir.path() + ": is a folder, not a file"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("truncated"), std::string::npos) << msg;
}

TEST(Memory, ANeedBeyondWhatIsAvailableNamesBothFigures) {
  const uint64_t available = available_host_memory();
  ASSERT_GT(available, 0u);
  EXPECT_NO_THROW(require_host_memory(1000, "a small thing"));
  const std::string msg = input_error([&] { require_host_memory(1e18, "a huge thing"); });
  EXPECT_EQ(msg.rfind("a huge thing: needs 1000 PB of memory but ", 0), 0u) << msg;
  EXPECT_NE(msg.find(" is available"), std::string::npos) << msg;
}

// An allocation that fails anyway is one line in our words, without a source path.
TEST(Memory, AFailedAllocationIsOutOfMemoryInOurWords) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer aborts on a request this large";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer aborts on a request this large";
#endif
#endif
  auto backend = make_cpu_backend();
  try {
    backend->allocate(size_t(1) << 62);
    ADD_FAILURE() << "allocated 4 EiB";
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind("out of host memory allocating 4611686018427387904 bytes", 0),
        0u)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find(".cpp"), std::string::npos) << e.what();
  }
}

// A NaN in a weight that feeds a ReLU leaves the loss finite (the ReLU gives 0 and
// passes no gradient back), so only the weights show it: the lane is marked diverged.
TEST(TrainerHardening, NanWeightsWithAFiniteLossMarkTheLaneDiverged) {
  const UspsData data = usps_head(200, 50, 50);
  auto backend = make_cpu_backend();
  DeviceData device(*backend, data);
  ModelSpec model{"relu-mlp",
                  {1, 16, 16},
                  10,
                  {{LayerKind::Dense, 16}, {LayerKind::Relu}, {LayerKind::Dense, 10}}};
  Trainer trainer(*backend, device, model, {{0.01f, 0.9f, 0.0f, 1}, {0.01f, 0.9f, 0.0f, 2}});
  std::vector<float> params = trainer.parameters();
  const ParamSlice first = trainer.plan().slices()[0].slice;
  params[first.offset + first.count / 2] = std::numeric_limits<float>::quiet_NaN();  // lane 1
  trainer.set_parameters(params);
  const std::vector<EpochStats> rows = trainer.train_epoch();
  ASSERT_TRUE(std::isfinite(rows[1].train_loss)) << "the case this test is about";
  EXPECT_FALSE(rows[0].diverged);
  EXPECT_TRUE(rows[1].diverged);
  EXPECT_EQ(trainer.diverged(), (std::vector<bool>{false, true}));
}

}  // namespace
}  // namespace sgdlab::test
