// The sgdlab binary: each bad input answers with one clear line and a non-zero exit,
// writing nothing; a good run writes every promised file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "sgdlab/core/backend.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

struct CliCase {
  std::string name, args, expect;
};

std::string binary() {
  return sgdlab_binary();
}

void PrintTo(const CliCase& c, std::ostream* os) {
  *os << c.name;
}

class CliBadInput : public ::testing::TestWithParam<CliCase> {};

TEST_P(CliBadInput, OneLineNonZeroExitNothingWritten) {
  TempDir dir;
  const CliCase& c = GetParam();
  std::string args = c.args;
  for (size_t p; (p = args.find("@DATA")) != std::string::npos;)
    args.replace(p, 5, real_data_dir());
  for (size_t p; (p = args.find("@TMP")) != std::string::npos;) args.replace(p, 4, dir.path());
  // One epoch unless the case is about --epochs (a flag given twice is refused).
  const std::string epochs = unless_given(args, "--epochs", "1");
  std::string out;
  const int code = run_command(
      binary() + " train --quiet" + epochs + " --out " + (dir / "run") + " " + args, &out);
  EXPECT_EQ(code, 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
  std::string expect = c.expect;
  for (size_t p; (p = expect.find("@TMP")) != std::string::npos;) expect.replace(p, 4, dir.path());
  EXPECT_NE(out.find(expect), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "run")) << "nothing written for bad input";
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, CliBadInput,
    ::testing::Values(
        CliCase{"UnknownModel", "--data @DATA --model resnet",
                "--model resnet: expected a preset (mlp, cnn, lcnn) or a model file"},
        CliCase{"ZeroBatch", "--data @DATA --batch 0", "--batch: expected a batch size > 0"},
        CliCase{"NegativeBatch", "--data @DATA --batch -4", "--batch"},
        CliCase{"ZeroEpochs", "--data @DATA --epochs 0", "--epochs: expected a number > 0"},
        CliCase{"ZeroLr", "--data @DATA --lr 0", "--lr: expected a learning rate > 0"},
        CliCase{"NegativeLrInList", "--data @DATA --lr 0.1,-0.1",
                "--lr: expected a learning rate > 0"},
        CliCase{"MomentumOne", "--data @DATA --momentum 1",
                "--momentum: expected a value in [0, 1)"},
        CliCase{"MomentumNegative", "--data @DATA --momentum -0.1", "--momentum"},
        CliCase{"DropoutOne", "--data @DATA --dropout 1", "--dropout: expected a rate in [0, 1)"},
        CliCase{"NotANumber", "--data @DATA --lr fast", "--lr: expected a number"},
        CliCase{"UnknownOptimizer", "--data @DATA --optimizer lion",
                "--optimizer: unknown optimizer 'lion' (expected sgd, adam or adamw)"},
        CliCase{"Beta1One", "--data @DATA --optimizer adam --beta1 1",
                "--beta1: expected a value in [0, 1), got 1"},
        CliCase{"Beta2InList", "--data @DATA --optimizer adamw --lr 0.1,0.2 --beta2 0.9,1.5",
                "--beta2: expected a value in [0, 1), got 1.5"},
        CliCase{"ZeroEps", "--data @DATA --optimizer adam --eps 0", "--eps: expected a value > 0"},
        CliCase{"NesterovWithAdam", "--data @DATA --optimizer adam --nesterov",
                "--nesterov: a setting of SGD, not of --optimizer adam"},
        CliCase{"EmaOne", "--data @DATA --ema 1", "--ema: expected a decay in (0, 1)"},
        CliCase{"EmaNegativeInList", "--data @DATA --lr 0.1,0.2 --ema 0.9,-0.5", "--ema"},
        CliCase{"LabelSmoothingOne", "--data @DATA --label-smoothing 1",
                "--label-smoothing: expected a value in [0, 1)"},
        CliCase{"ElasticWithoutSigma", "--data @DATA --augment shift=1,alpha=8",
                "--augment alpha: give the smoothing too, sigma=PIXELS"},
        CliCase{"ElasticSigmaTooLarge", "--data @DATA --augment alpha=8,sigma=9",
                "--augment: expected sigma in [0, 8] pixels, got 9"},
        CliCase{"UnknownAugmentKey", "--data @DATA --augment warp=3",
                "--augment: expected shift=PIXELS,rotate=DEGREES,scale=FRACTION,alpha=PIXELS"},
        CliCase{"ListLengths", "--data @DATA --lr 0.1,0.2 --seed 1,2,3",
                "has 2 values but the pack has 3"},
        CliCase{"MissingDataDir", "--data @TMP/none", "--data @TMP/none: no such file or folder"},
        CliCase{"BadFormat", "--data @DATA --format csv", "--format"},
        CliCase{"BadLayout", "--data @DATA --layout hwcn", "--layout"},
        CliCase{"BadNormalize", "--data @DATA --normalize minmax", "--normalize"},
        CliCase{"BadInit", "--data @DATA --init gaussian",
                "--init: expected 'xavier' or 'uniform:LOW:HIGH'"},
        CliCase{"BadDevice", "--data @DATA --device tpu", "--device: expected cpu, cuda or auto"},
        // Seeds are integers (issue 14, 3): 1e23 and 2^64 ran as seed 0, -1 wrapped.
        CliCase{"SeedInScientificNotation", "--data @DATA --seed 1e23",
                "--seed: expected non-negative integers"},
        CliCase{"SeedBeyond64Bits", "--data @DATA --seed 18446744073709551616",
                "--seed: expected at most 18446744073709551615"},
        CliCase{"NegativeSplitSeed", "--data @DATA --split-seed -1",
                "--split-seed: expected one non-negative integer"},
        // Issue 22: what was misleading or silently taken.
        CliCase{"MissingModelFile", "--data @DATA --model @TMP/lenet.json",
                "--model @TMP/lenet.json: no such model file"},
        CliCase{"LrBeyondFloat", "--data @DATA --lr 1e308",
                "--lr: 1e308 is out of the float range"},
        CliCase{"RepeatedFlag", "--data @DATA --lr 0.1 --lr 0.2",
                "--lr: given 2 times (give it once"},
        CliCase{"ResumeBesideOut", "--data @DATA --resume @TMP/old",
                "--out: cannot go with --resume"}),
    [](const auto& info) { return info.param.name; });

TEST(Cli, BadDataFileNamesTheLine) {
  TempDir dir;
  std::filesystem::create_directories(dir / "data");
  write_gzip(dir / "data/zip.train.gz", usps_line(1) + usps_line(2) + "7 0.5 oops\n");
  write_gzip(dir / "data/zip.test.gz", usps_line(1));
  std::string out;
  const int code =
      run_command(binary() + " train --data " + (dir / "data") + " --out " + (dir / "run"), &out);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("zip.train.gz:3: expected 257 fields"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "run"));
}

// Model files and data files that are wrong: one line naming the file, exit code 2,
// nothing written (the train command; sweep and study read them the same way).
TEST(Cli, BadModelAndDataFilesAreOneLineExitTwo) {
  TempDir dir;
  write_bytes(dir / "broken.json", "{\"input\": [1, 16, 16], \"classes\": 10, \"layers\": [");
  write_bytes(
      dir / "typo.json",
      R"({"input": [1, 16, 16], "classes": 10, "layers": [{"type": "dense", "units": 10}]})");
  write_bytes(dir / "small.json",
              R"({"input": [1, 28, 28], "classes": 10, "layers": [{"type": "dense", "out": 10}]})");
  write_bytes(dir / "huge.json", R"({"input": 1e999})");
  const std::string head = R"({"input": [1, 16, 16], "classes": 10, "layers": [)";
  const std::string dense10 = R"({"type": "dense", "out": 10}]})";
  write_bytes(dir / "bn-first.json", head + R"({"type": "batchnorm"}, )" + dense10);
  write_bytes(dir / "bn-eps.json",
              head + R"({"type": "dense", "out": 8}, {"type": "batchnorm", "eps": 0}, )" + dense10);
  write_bytes(dir / "bn-momentum.json", head +
                                            R"({"type": "dense", "out": 8}, {"type": "batchnorm",
                                            "momentum": 2}, )" +
                                            dense10);
  write_bytes(dir / "bn-dense.json",
              head + R"({"type": "dense", "out": 8}, {"type": "batchnorm"}, )" + dense10);
  write_bytes(dir / "x.npz", "not a zip");
  std::filesystem::create_directories(dir / "idx");
  write_bytes(dir / "idx/train-images-idx3-ubyte", std::string("\x07\x07\x08\x03", 4));
  write_bytes(dir / "idx/train-labels-idx1-ubyte", std::string("\0\0\x08\x01\0\0\0\x01\x03", 9));
  const std::string data = " --data " + real_data_dir();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--model " + (dir / "broken.json") + data, "broken.json: not valid JSON at line"},
      // A number beyond a double (found by fuzz_model: exit code 1 before).
      {"--model " + (dir / "huge.json") + data,
       "huge.json: not valid JSON: a number beyond the range of a double"},
      {"--model " + (dir / "typo.json") + data, "layer 1 dense: unknown key \"units\""},
      {"--model " + (dir / "bn-first.json") + data, "layer 1 batchnorm: the first layer has"},
      {"--model " + (dir / "bn-eps.json") + data, "layer 2 batchnorm: \"eps\" must be > 0"},
      {"--model " + (dir / "bn-momentum.json") + data,
       "layer 2 batchnorm: \"momentum\" must be in [0, 1], got 2"},
      // USPS's 5,833 training samples in steps of 4 leave one for the last step.
      {"--model " + (dir / "bn-dense.json") + data + " --batch 4",
       "bn1 (batchnorm over 8 features): a training step of 1 sample"},
      {"--model " + (dir / "small.json") + data, "the images are 1x16x16"},
      {"--data " + (dir / "x.npz"), "x.npz: not a readable .npz"},
      {"--model " + (dir / "small.json") + " --data " + (dir / "idx"), "bad magic number"},
  };
  for (const auto& [args, expect] : cases) {
    std::string out;
    const int code = run_command(
        binary() + " train --quiet --device cpu --epochs 1 --out " + (dir / "run") + " " + args,
        &out);
    EXPECT_EQ(code, 2) << args << "\n" << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find(expect), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir / "run")) << args;
  }
}

// #14: a batch of 0 divided by zero in the cost model (SIGFPE, exit 136, no message).
TEST(Cli, BenchRefusesABatchOfZero) {
  std::string out;
  const int code = run_command(binary() + " bench --models mlp --device cpu --epochs 1 " +
                                   "--warmup 0 --batch 0 --data " + real_data_dir(),
                               &out);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--batch: expected a batch size > 0"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

// #14: a full disk (a file-size limit, its signal ignored, so that writes fail as
// with ENOSPC) fails the run with one line and leaves no half-written run folder.
TEST(Cli, AFullDiskLeavesNoHalfWrittenRun) {
  TempDir dir;
  std::string out;
  const int code = run_command("trap '' XFSZ; ulimit -f 1; exec " + binary() +
                                   " train --quiet --device cpu --model mlp --epochs 1 --data " +
                                   real_data_dir() + " --out " + (dir / "run"),
                               &out);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("disk full"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "run")) << "a half-written run folder was left";
}

// Issue 22, 7: what a command prints is its result; a write to stdout that fails (a full
// disk, a closed stdout) was exit 0. Now one line and exit 2, for predict, evaluate and
// trials.
TEST(Cli, AFailedWriteToStandardOutputIsOneLineExitTwo) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  std::string out;
  ASSERT_EQ(run_command(binary() + " train --quiet --device cpu --model mlp --epochs 1 --save " +
                            "--data " + (dir / "data") + " --out " + (dir / "run"),
                        &out),
            0)
      << out;
  ASSERT_EQ(run_command(binary() + " sweep --model mlp --trials 1 --epochs 1 --device cpu " +
                            "--data " + (dir / "data") + " --study " + (dir / "s.db") + " --name t",
                        &out),
            0)
      << out;
  const std::string model = " --device cpu --checkpoint " +
                            (dir / "run/models/lane-0.safetensors") + " --data " + (dir / "data");
  for (const std::string& command : {"predict" + model + " > /dev/full", "predict" + model + " >&-",
                                     "evaluate" + model + " > /dev/full",
                                     "trials --study " + (dir / "s.db") + " --name t > /dev/full",
                                     "trials --json --study " + (dir / "s.db") + " --name t >&-"}) {
    // stdout where the command says, stderr captured
    EXPECT_EQ(run_command("sh -c '" + binary() + " " + command + "'", &out), 2) << command;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1 + (command[0] == 'p')) << out;
    EXPECT_NE(out.find("sgdlab: standard output: a write failed"), std::string::npos)
        << command << "\n"
        << out;
  }
}

// Issue 22: --help without CLI11's "{false}", and values that were taken silently.
TEST(Cli, HelpAndRatesSayWhatTheyMean) {
  std::string out;
  EXPECT_EQ(run_command(binary() + " study --help", &out), 0);
  EXPECT_NE(out.find("--no-figures"), std::string::npos) << out;
  EXPECT_EQ(out.find("{false}"), std::string::npos) << out;
  for (const char* flag : {"--peak-tflops nan", "--peak-gbs -1", "--peak-tflops inf"}) {
    EXPECT_EQ(run_command(binary() + " bench --models mlp --device cpu --data " + real_data_dir() +
                              " " + flag,
                          &out),
              2)
        << flag;
    EXPECT_NE(out.find("expected a finite rate >= 0"), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
}

TEST(Cli, CudaWithoutGpuIsOneClearLine) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  TempDir dir;
  std::string out;
  const int code = run_command(
      binary() + " train --device cuda --data " + real_data_dir() + " --out " + (dir / "run"),
      &out);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--device cuda"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(Cli, VersionAndHelp) {
  std::string out;
  EXPECT_EQ(run_command(binary() + " --version", &out), 0);
  EXPECT_NE(out.find("sgdlab 0."), std::string::npos) << out;
  EXPECT_NE(out.find("CUDA"), std::string::npos) << out;
  EXPECT_EQ(run_command(binary() + " train --help", &out), 0);
  EXPECT_NE(out.find("--momentum"), std::string::npos) << out;
}

TEST(Cli, TrainWritesConfigMetricsAndResult) {
  TempDir dir;
  std::string out;
  const int code = run_command(binary() + " train --quiet --model mlp --epochs 2 --lr 0.05,0.02 " +
                                   "--seed 1,2 --device cpu --data " + real_data_dir() + " --out " +
                                   (dir / "run"),
                               &out);
  ASSERT_EQ(code, 0) << out;
  const auto result = nlohmann::json::parse(read_bytes(dir / "run/result.json"));
  ASSERT_EQ(result["lanes"].size(), 2u);
  EXPECT_EQ(result["model"], "mlp");
  EXPECT_GT(result["lanes"][0]["test_acc"].get<double>(), 0.7);
  EXPECT_FLOAT_EQ(result["lanes"][1]["lr"].get<float>(), 0.02f);
  const auto config = nlohmann::json::parse(read_bytes(dir / "run/config.json"));
  EXPECT_EQ(config["epochs"], 2);
  const std::string jsonl = read_bytes(dir / "run/metrics.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 4);  // 2 lanes x 2 epochs
  const auto row = nlohmann::json::parse(jsonl.substr(0, jsonl.find('\n')));
  for (const char* key : {"lane", "epoch", "train_loss", "val_loss", "val_acc", "grad_mean_abs",
                          "grad_l2", "seconds"})
    EXPECT_TRUE(row.contains(key)) << key;
  const std::string csv = read_bytes(dir / "run/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
}

TEST(Cli, BenchWritesRatesAndFloorsPerModelAndPack) {
  TempDir dir;
  std::string out;
  const int code = run_command(binary() +
                                   " bench --device cpu --models mlp --lanes 1,2 --epochs 2 "
                                   "--warmup 0 --peak-tflops 67 --peak-gbs 3350 --data " +
                                   real_data_dir() + " --json " + (dir / "bench.json"),
                               &out);
  ASSERT_EQ(code, 0) << out;
  const auto r = nlohmann::json::parse(read_bytes(dir / "bench.json"));
  ASSERT_EQ(r["runs"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto& run = r["runs"][i];
    EXPECT_EQ(run["lanes"], i + 1);
    ASSERT_EQ(run["epoch_seconds_all"].size(), 2u);
    const double sum =
        run["epoch_seconds_all"][0].get<double>() + run["epoch_seconds_all"][1].get<double>();
    // Over the wall time of the timed epochs: at most lanes x epochs over their sum.
    const double rate = run["trial_epochs_per_s"].get<double>();
    EXPECT_LE(rate, (i + 1) * 2 / sum * (1 + 1e-9));
    EXPECT_GT(rate, 0.8 * (i + 1) * 2 / sum);
    EXPECT_GT(run["val_acc_lane0"].get<double>(), 0.5);
  }
  // 0.194 MFLOP per sample at 67 TFLOP/s: about 59,000 MLP trial-epochs/s (issue #6).
  EXPECT_NEAR(r["floors"]["mlp"]["flop_floor_trial_epochs_per_s"].get<double>(), 59000, 600);
  EXPECT_GT(r["floors"]["mlp"]["byte_floor_trial_epochs_per_s"].get<double>(), 0);
  EXPECT_NE(out.find("FLOP floor"), std::string::npos) << out;
}

TEST(Cli, BenchRunsPacksOnStreamsAtOnce) {
  TempDir dir;
  std::string out;
  const int code = run_command(binary() +
                                   " bench --device cpu --models mlp --lanes 2 --streams 2 "
                                   "--epochs 1 --warmup 1 --data " +
                                   real_data_dir() + " --json " + (dir / "bench.json"),
                               &out);
  ASSERT_EQ(code, 0) << out;
  const auto r = nlohmann::json::parse(read_bytes(dir / "bench.json"));
  ASSERT_EQ(r["runs"].size(), 1u);
  EXPECT_EQ(r["runs"][0]["streams"], 2);
  EXPECT_GT(r["runs"][0]["trial_epochs_per_s"].get<double>(), 0);
  EXPECT_NE(out.find("2 packs at once"), std::string::npos) << out;
}

TEST(Cli, BenchRejectsBadPackSizes) {
  std::string out;
  const int code =
      run_command(binary() + " bench --device cpu --lanes 0 --data " + real_data_dir(), &out);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--lanes: expected whole counts >= 1"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace sgdlab::test
