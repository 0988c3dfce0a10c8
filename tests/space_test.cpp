// Search-space files: every way a space can be wrong is an InputError whose message
// names the file (or source) and the parameter at fault.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/space.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

using nlohmann::json;

// The message of the InputError that from_json throws, or a failure. Any other
// exception (a JSON library error let through) fails the test too.
std::string from_json_error(const std::string& text) {
  try {
    SearchSpace::from_json(json::parse(text), "space.json");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << text;
  return "";
}

// Asserts the message starts with the source, names the parameter, and says `what`.
void expect_message(const std::string& text, const std::string& param, const std::string& what) {
  const std::string msg = from_json_error(text);
  EXPECT_EQ(msg.rfind("space.json: ", 0), 0u) << text << " -> " << msg;
  EXPECT_NE(msg.find(param), std::string::npos) << text << " -> " << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << text << " -> " << msg;
}

TEST(SpaceJson, AGoodSpaceReplacesOnlyTheParametersItNames) {
  const SearchSpace s = SearchSpace::from_json(
      json::parse(R"({"lr": {"type": "log_uniform", "low": 1e-4, "high": 0.1},
                      "batch": {"type": "categorical", "choices": [32, 64]}})"),
      "space.json");
  EXPECT_TRUE(s.get("lr").is_log());
  EXPECT_EQ(s.get("lr").low, 1e-4);
  EXPECT_EQ(s.get("batch").choices, (std::vector<double>{32, 64}));
  EXPECT_EQ(s.get("momentum").low, 0.5);  // untouched: the default
  EXPECT_EQ(s.params().size(), 4u);
}

TEST(SpaceJson, UnknownParameter) {
  expect_message(R"({"learning_rate": {"type": "uniform", "low": 0, "high": 1}})",
                 "'learning_rate'", "unknown parameter");
  // The message lists what a space may name, the optional parameters included.
  expect_message(R"({"warp": {"type": "uniform", "low": 0, "high": 1}})", "'warp'",
                 "(expected lr, batch, momentum, dropout, weight_decay, augment");
  expect_message(R"({"warp": {"type": "uniform", "low": 0, "high": 1}})", "'warp'",
                 "elastic_alpha, elastic_sigma, architecture)");
}

// The elastic distortion's two parameters, and the range training takes for sigma.
TEST(SpaceJson, ElasticParametersReachTheLaneSettings) {
  const SearchSpace s = SearchSpace::from_json(
      json::parse(R"({"elastic_alpha": {"type": "uniform", "low": 5, "high": 15},
                      "elastic_sigma": {"type": "categorical", "choices": [2, 3]}})"),
      "space.json");
  EXPECT_EQ(s.get("elastic_alpha").high, 15);
  EXPECT_EQ(s.get("elastic_sigma").choices, (std::vector<double>{2, 3}));
  expect_message(R"({"elastic_sigma": {"type": "uniform", "low": 1, "high": 9}})", "elastic_sigma",
                 "sigma in [0, 8] pixels");
}

TEST(SpaceJson, LowAboveHigh) {
  expect_message(R"({"momentum": {"type": "uniform", "low": 0.9, "high": 0.6}})", "momentum",
                 "expected low <= high, got 0.9 > 0.6");
  expect_message(R"({"lr": {"type": "log_uniform", "low": 0.1, "high": 0.01}})", "lr",
                 "expected low <= high");
}

TEST(SpaceJson, LogUniformNeedsAPositiveLow) {
  expect_message(R"({"lr": {"type": "log_uniform", "low": 0, "high": 0.1}})", "lr",
                 "log_uniform range needs low > 0");
  expect_message(R"({"dropout": {"type": "log_uniform", "low": -0.5, "high": 0.5}})", "dropout",
                 "log_uniform range needs low > 0");
}

TEST(SpaceJson, UnknownOrMissingType) {
  expect_message(R"({"lr": {"type": "normal", "low": 0.001, "high": 0.1}})", "lr",
                 "expected \"type\"");
  expect_message(R"({"lr": {"low": 0.001, "high": 0.1}})", "lr", "expected \"type\"");
}

TEST(SpaceJson, WrongTypes) {
  // A string, a boolean or null where a number is expected.
  expect_message(R"({"lr": {"type": "log_uniform", "low": "1e-4", "high": 0.1}})", "lr", "number");
  expect_message(R"({"momentum": {"type": "uniform", "low": 0.5, "high": true}})", "momentum",
                 "number");
  expect_message(R"({"dropout": {"type": "uniform", "low": null, "high": 0.5}})", "dropout",
                 "number");
  // A missing bound.
  expect_message(R"({"dropout": {"type": "uniform", "low": 0.1}})", "dropout", "high");
  // Choices that are not an array of numbers.
  expect_message(R"({"batch": {"type": "categorical", "choices": 32}})", "batch", "choices");
  expect_message(R"({"batch": {"type": "categorical", "choices": [32, "64"]}})", "batch", "number");
  expect_message(R"({"batch": {"type": "categorical", "choices": [true]}})", "batch", "number");
  expect_message(R"({"batch": {"type": "categorical"}})", "batch", "choices");
  // The type itself not a string, and a parameter that is not an object.
  expect_message(R"({"lr": {"type": 3, "low": 0.001, "high": 0.1}})", "lr", "type");
  expect_message(R"({"lr": 0.01})", "lr", "object");
  expect_message(R"({"batch": [16, 32]})", "batch", "object");
}

TEST(SpaceJson, NoChoices) {
  expect_message(R"({"batch": {"type": "categorical", "choices": []}})", "batch",
                 "at least one choice");
}

TEST(SpaceJson, ValuesTrainingRejects) {
  expect_message(R"({"batch": {"type": "categorical", "choices": [32, 0.5]}})", "batch",
                 "value 0.5 is outside what training accepts");
  expect_message(R"({"momentum": {"type": "uniform", "low": 0.5, "high": 1.0}})", "momentum",
                 "value 1 is outside what training accepts");
  expect_message(R"({"lr": {"type": "uniform", "low": 0, "high": 0.1}})", "lr",
                 "value 0 is outside what training accepts");
}

// Training takes 32-bit floats: a value that is fine as a double but 0, inf or 1 as a
// float would fail every trial that draws it (issue #14, 2).
TEST(SpaceJson, ValuesAreCheckedAsTheFloatsTrainingUses) {
  expect_message(R"({"lr": {"type": "log_uniform", "low": 1e-3, "high": 1e300}})",
                 "lr: ", "value 1e+300 is outside what training accepts");
  expect_message(R"({"lr": {"type": "uniform", "low": 1e-60, "high": 1e-50}})",
                 "lr: ", "value 1e-60 is outside what training accepts");
  expect_message(R"({"momentum": {"type": "uniform", "low": 0.5, "high": 0.99999999999}})",
                 "momentum: ", "value 0.99999999999 is outside what training accepts");
  expect_message(R"({"dropout": {"type": "categorical", "choices": [0.2, 0.999999999999]}})",
                 "dropout: ", "as a 32-bit float it is 1");
}

// The batch sizes a space can draw are checked against the training set before a sweep
// asks any trial (issue #14, 2).
TEST(SpaceJson, BatchLargerThanTheTrainingSetIsRefused) {
  const SearchSpace s = SearchSpace::from_json(
      json::parse(R"({"batch": {"type": "categorical", "choices": [32, 100000]}})"), "b.json");
  try {
    check_space_fits(s, 5833, "b.json");
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "b.json: batch: value 100000 is outside what training accepts (a batch size from 1 "
              "to the training set's 5833 samples)");
  }
  EXPECT_NO_THROW(check_space_fits(s, 100000, "b.json"));
}

TEST(SpaceJson, NotAnObject) {
  const std::string msg = from_json_error("[1, 2]");
  EXPECT_EQ(msg, "space.json: expected a JSON object of parameters");
}

// The message of the InputError that load throws, or a failure.
std::string load_error(const std::string& path) {
  try {
    SearchSpace::load(path);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << path;
  return "";
}

TEST(SpaceFile, InvalidJsonNamesTheFile) {
  TempDir dir;
  write_bytes(dir / "bad.json", R"({"lr": {"type": "uniform", "low": 0.1,)");
  const std::string msg = load_error(dir / "bad.json");
  EXPECT_EQ(msg.rfind(dir / "bad.json" + ": not valid JSON", 0), 0u) << msg;
}

TEST(SpaceFile, MissingFileNamesTheFile) {
  TempDir dir;
  const std::string msg = load_error(dir / "none.json");
  EXPECT_EQ(msg, dir / "none.json" + ": cannot open");
}

// A key given twice would silently keep the last one (issue #14, 8).
TEST(SpaceFile, DuplicateKeysAreRefused) {
  TempDir dir;
  write_bytes(dir / "dup.json", R"({"lr": {"type": "log_uniform", "low": 1e-3, "high": 0.1},
                                    "lr": {"type": "log_uniform", "low": 1e-4, "high": 0.1}})");
  EXPECT_EQ(load_error(dir / "dup.json"), dir / "dup.json" + ": key 'lr' is given twice");
  write_bytes(dir / "dup2.json",
              R"({"momentum": {"type": "uniform", "low": 0.5, "low": 0.6, "high": 0.9}})");
  EXPECT_EQ(load_error(dir / "dup2.json"),
            dir / "dup2.json" + ": momentum: key 'low' is given twice");
}

// Whatever follows the JSON value is refused, a NUL byte included (issue #14, 8).
TEST(SpaceFile, TextAfterTheJsonIsRefused) {
  TempDir dir;
  const std::string good = R"({"lr": {"type": "log_uniform", "low": 1e-3, "high": 0.1}})";
  write_bytes(dir / "nul.json", good + std::string(1, '\0') + "garbage");
  EXPECT_EQ(load_error(dir / "nul.json"), dir / "nul.json" +
                                              ": unexpected text after the JSON value at byte " +
                                              std::to_string(good.size() + 1));
  write_bytes(dir / "tail.json", good + " xyz");
  const std::string msg = load_error(dir / "tail.json");
  EXPECT_EQ(msg.rfind(dir / "tail.json" + ": not valid JSON", 0), 0u) << msg;
  EXPECT_EQ(msg.find("json.exception"), std::string::npos) << msg;
  write_bytes(dir / "spaces.json", good + " \n\t\r\n");
  EXPECT_EQ(SearchSpace::load(dir / "spaces.json").get("lr").low, 1e-3);
}

// --space takes a file or, when it starts with '{', the JSON itself (issue #14, 7).
TEST(SpaceArgument, InlineJsonOrAFile) {
  TempDir dir;
  EXPECT_EQ(SearchSpace::from_argument(R"( {"batch": {"type": "categorical", "choices": [8]}})")
                .get("batch")
                .choices,
            std::vector<double>{8});
  try {
    SearchSpace::from_argument(R"({"lr":"fast"})");
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--space: lr: expected an object with a \"type\"", 0), 0u)
        << e.what();
  }
  write_bytes(dir / "s.json", R"({"batch": {"type": "categorical", "choices": [16]}})");
  EXPECT_EQ(SearchSpace::from_argument(dir / "s.json").get("batch").choices,
            std::vector<double>{16});
}

// A narrowed space file keeps the space under "space"; its errors name the file too.
TEST(SpaceFile, ErrorsInsideANarrowedFileNameTheFileAndTheParameter) {
  TempDir dir;
  write_bytes(dir / "narrowed.json",
              R"({"n_top": 2, "space": {"momentum": {"type": "uniform", "low": 0.9,
                                                      "high": 0.6}}})");
  const std::string msg = load_error(dir / "narrowed.json");
  EXPECT_EQ(msg.rfind(dir / "narrowed.json" + ": momentum: expected low <= high", 0), 0u) << msg;
  write_bytes(dir / "good.json", R"({"space": {"batch": {"type": "categorical",
                                                          "choices": [64]}}})");
  EXPECT_EQ(SearchSpace::load(dir / "good.json").get("batch").choices, std::vector<double>{64});
}

}  // namespace
}  // namespace sgdlab::test
