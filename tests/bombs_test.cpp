// Decompression and size bombs (issue #22, defects 1 and 2): each is refused in one line
// with exit code 2 under an address-space limit of 2 GB, quickly, without inflating
// gigabytes first. The bombs are written here, small on disk: a gzip file is a header
// member followed by copies of one member of 64 MB of zeros (a gzip reader reads
// concatenated members as one stream), a zip member one deflate stream of copies of one
// flushed block.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <fstream>

#include "tests/data_files.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

constexpr size_t kBlock = size_t(64) << 20;  // one copy: 64 MB inflated, 64 kB on disk
constexpr int kCopies = 48;                  // 3 GB inflated: more than the limit

// `data` deflated: windowBits 15 + 16 is a gzip member, -15 raw deflate; Z_FINISH ends
// the stream, Z_SYNC_FLUSH leaves it open so that more blocks may follow.
std::string deflate_bytes(z_stream& z, const std::string& data, int flush) {
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = uInt(data.size());
  char buf[1 << 16];
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    deflate(&z, flush);
    out.append(buf, sizeof buf - z.avail_out);
  } while (z.avail_out == 0);
  return out;
}

std::string gzip_member(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out = deflate_bytes(z, data, Z_FINISH);
  deflateEnd(&z);
  return out;
}

// `head` then kCopies blocks of `fill`, gzipped.
void write_gzip_bomb(const std::string& path, const std::string& head, char fill) {
  const std::string block = gzip_member(std::string(kBlock, fill));
  std::ofstream out(path, std::ios::binary);
  out << gzip_member(head);
  for (int i = 0; i < kCopies; ++i) out << block;
}

std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

// A zip of one deflated member `name`: `head` then kCopies blocks of zeros, the
// member's CRC and sizes true (3 GB: within zip32).
std::string zip_bomb(const std::string& name, const std::string& head) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  const std::string zeros(kBlock, '\0');
  std::string data = deflate_bytes(z, head + zeros, Z_SYNC_FLUSH);
  // After the first block the window is all zeros: the next block's back-references
  // hold in every copy.
  const std::string block = deflate_bytes(z, zeros, Z_SYNC_FLUSH);
  deflateEnd(&z);
  for (int i = 1; i < kCopies; ++i) data += block;
  data += std::string("\x03\x00", 2);  // an empty final block
  uLong crc =
      crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(head.data()), uInt(head.size()));
  const uLong zeros_crc =
      crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(zeros.data()), uInt(kBlock));
  for (int i = 0; i < kCopies; ++i) crc = crc32_combine(crc, zeros_crc, z_off_t(kBlock));
  const uint64_t size = head.size() + kBlock * kCopies;
  const std::string sizes = le(crc, 4) + le(data.size(), 4) + le(size, 4);
  const std::string local = le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes +
                            le(name.size(), 2) + le(0, 2) + name;
  const std::string central = le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(8, 2) +
                              le(0, 4) + sizes + le(name.size(), 2) + le(0, 2) + le(0, 2) +
                              le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + name;
  const std::string end = le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) +
                          le(central.size(), 4) + le(local.size() + data.size(), 4) + le(0, 2);
  return local + data + central + end;
}

std::string mnist_labels(uint32_t n) {
  return idx_bytes({n}, std::vector<uint8_t>(std::min<uint32_t>(n, 200), 1));
}

// The t10k files of an IDX folder: 10 valid images.
void write_idx_test_split(const std::string& dir) {
  write_bytes(dir + "/t10k-images-idx3-ubyte", idx_bytes({10, 28, 28}, std::vector<uint8_t>(7840)));
  write_bytes(dir + "/t10k-labels-idx1-ubyte", mnist_labels(10));
}

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#endif
#endif
  return false;
}

// `sgdlab args` under a 2 GB address-space limit: one line "sgdlab: ..." holding
// `expect`, exit code 2, in under 10 seconds (inflating 3 GB takes longer).
void expect_refused_under_2gb(const std::string& args, const std::string& expect) {
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  const int code = run_command("ulimit -v 2097152 && exec " + sgdlab_binary() + " " + args, &out);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(code, 2) << out;
  EXPECT_EQ(out.rfind("sgdlab: ", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
  EXPECT_NE(out.find(expect), std::string::npos) << out;
  EXPECT_LT(seconds, 10.0) << out;
}

class Bombs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sanitized()) GTEST_SKIP() << "AddressSanitizer cannot run under an address-space limit";
  }
  TempDir dir;
  std::string train(const std::string& data) const {
    return "train --quiet --device cpu --epochs 1 --model mlp --data " + data + " --out " +
           (dir / "run");
  }
};

TEST_F(Bombs, IdxGzipInflatingBeyondItsHeaderIsRefusedAfterADeclaredRead) {
  const std::string d = dir / "idx";
  std::filesystem::create_directories(d);
  write_gzip_bomb(d + "/train-images-idx3-ubyte.gz", idx_bytes({200, 28, 28}, {}), '\0');
  write_bytes(d + "/train-labels-idx1-ubyte", mnist_labels(200));
  write_idx_test_split(d);
  expect_refused_under_2gb(train(d), "more data than the header declares");
}

TEST_F(Bombs, IdxHeaderClaimingAHugeCountIsRefusedBeforeAllocating) {
  const std::string d = dir / "idx";
  std::filesystem::create_directories(d);
  write_gzip_bomb(d + "/train-images-idx3-ubyte.gz", idx_bytes({250000000, 28, 28}, {}), '\0');
  write_bytes(d + "/train-labels-idx1-ubyte", mnist_labels(250000000));
  write_idx_test_split(d);
  expect_refused_under_2gb(train(d), "250000000 images of 28x28: needs ");
}

TEST_F(Bombs, UspsGzipOfOneEnormousLineIsRefusedAtTheLineCap) {
  const std::string d = dir / "usps";
  std::filesystem::create_directories(d);
  write_gzip_bomb(d + "/zip.train.gz", "1", ' ');
  write_gzip(d + "/zip.test.gz", usps_line(1));
  expect_refused_under_2gb(train(d), "zip.train.gz:1: line longer than");
}

TEST_F(Bombs, NpzMemberInflatingToGigabytesIsRefusedBeforeInflating) {
  const std::string npz = dir / "data.npz";
  const uint64_t n = kBlock * kCopies / 784;
  write_bytes(npz, zip_bomb("x_train.npy", npy_bytes("|u1", {n, 28, 28}, "")));
  expect_refused_under_2gb(train(npz), "x_train.npy: needs ");
}

TEST_F(Bombs, NpzShapeClaimingAHugeCountIsRefused) {
  const std::string npz = dir / "shape.npz";
  write_npz(npz, {{"x_train", npy_bytes("|u1", {250000000, 28, 28}, std::string(7840, '\0'))},
                  {"y_train", npy_bytes("|u1", {250000000}, std::string(10, '\0'))},
                  {"x_test", npy_bytes("|u1", {10, 28, 28}, std::string(7840, '\0'))},
                  {"y_test", npy_bytes("|u1", {10}, std::string(10, '\0'))}});
  expect_refused_under_2gb(train(npz), "x_train: truncated");
}

// Defect 2: packs whose working set (the cost model's) cannot fit are refused with
// both figures, before anything is allocated.
TEST_F(Bombs, AModelOf267MillionParametersIsRefusedWithBothFigures) {
  const std::string model = dir / "big.json";
  write_bytes(model, R"({"input": [1, 16, 16], "classes": 10, "layers": [{"type": "dense", )"
                     R"("out": 1000000}, {"type": "relu"}, {"type": "dense", "out": 10}]})");
  expect_refused_under_2gb("train --quiet --device cpu --epochs 1 --data " + real_data_dir() +
                               " --model " + model + " --out " + (dir / "run"),
                           "267000010 parameters each) with batch 32 needs ");
}

TEST_F(Bombs, TenThousandLayersAreRefusedWithBothFigures) {
  std::string layers;
  for (int i = 0; i < 5000; ++i) layers += R"({"type": "dense", "out": 1000}, {"type": "relu"}, )";
  const std::string model = dir / "deep.json";
  write_bytes(model, R"({"input": [1, 16, 16], "classes": 10, "layers": [)" + layers +
                         R"({"type": "dense", "out": 10}]})");
  expect_refused_under_2gb("train --quiet --device cpu --epochs 1 --data " + real_data_dir() +
                               " --model " + model + " --out " + (dir / "run"),
                           "a pack of 1 lane of deep (");
}

TEST_F(Bombs, TwentyThousandLanesAreRefusedWithBothFigures) {
  std::string lrs = "0.01";
  for (int i = 0; i < 20000; ++i) lrs += ",0.01";
  expect_refused_under_2gb("train --quiet --device cpu --epochs 1 --model mlp --data " +
                               real_data_dir() + " --lr " + lrs + " --out " + (dir / "run"),
                           "a pack of 20001 lanes of mlp");
}

TEST_F(Bombs, BenchOfAMillionLanesIsRefusedWithBothFigures) {
  expect_refused_under_2gb("bench --device cpu --models mlp --lanes 1000000 --epochs 1",
                           "a pack of 1000000 lanes of mlp");
}

}  // namespace
}  // namespace sgdlab::test
