// sgdlab predict and sgdlab evaluate: a trained network (a model checkpoint, which
// brings its model file and the data's scaling) on the test split of --data, optionally
// with test-time shifts (engine/tta.hpp).
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "sgdlab/core/argmax.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/tta.hpp"
#include "sgdlab/study/ensemble.hpp"

namespace sgdlab::cli {
namespace {

struct PredictArgs {
  std::string checkpoint, out, json;
  std::string device = "auto";
  std::string tta_shift = "0";
  DataOptions data;
};

struct Predictions {
  ModelCheckpoint checkpoint;
  Dataset images;
  std::vector<float> probs;  // [n, classes]
  std::vector<int> predicted;
  int tta_shift = 0;  // --tta-shift
};

// Runs the checkpoint's network on the test split of --data, scaled as it was trained.
Predictions predict(const PredictArgs& a) {
  const uint64_t shift = parse_uint("--tta-shift", a.tta_shift);  // before anything loads
  Predictions p;
  p.checkpoint = load_model_checkpoint(a.checkpoint);
  p.images = load_test_split(a.data);
  apply_scaling(p.images, p.checkpoint.scaling);
  if (shift >= uint64_t(std::min(p.images.image.H, p.images.image.W)))
    SGDLAB_INPUT_ERROR("--tta-shift: ", shift, " pixels moves a ", p.images.image.H, "x",
                       p.images.image.W, " image out of view (expected less than its side)");
  p.tta_shift = int(shift);
  auto backend = make_backend(a.device);
  p.probs =
      tta_probabilities(*backend, p.checkpoint.model, p.checkpoint.params, p.images, p.tta_shift);
  const int classes = p.checkpoint.model.classes;
  for (size_t i = 0; i < p.images.size(); ++i)
    p.predicted.push_back(argmax_first(p.probs.data() + i * classes, classes));
  return p;
}

double accuracy_of(const Predictions& p) {
  size_t hits = 0;
  for (size_t i = 0; i < p.predicted.size(); ++i) hits += p.predicted[i] == p.images.y[i];
  return double(hits) / double(p.predicted.size());
}

void run_predict(const PredictArgs& a) {
  const Predictions p = predict(a);
  const int classes = p.checkpoint.model.classes;
  std::ostringstream csv;
  csv << "index,predicted";
  for (int c = 0; c < classes; ++c) csv << ",p" << c;
  csv << "\n" << std::setprecision(9);
  for (size_t i = 0; i < p.predicted.size(); ++i) {
    csv << i << "," << p.predicted[i];
    for (int c = 0; c < classes; ++c) csv << "," << p.probs[i * classes + c];
    csv << "\n";
  }
  if (a.out.empty())
    std::cout << csv.str();
  else
    write_file_atomic(a.out, csv.str());
  std::cerr << "predicted " << p.predicted.size() << " images with " << p.checkpoint.model.name
            << " (accuracy against the file's labels " << std::fixed << std::setprecision(2)
            << 100 * accuracy_of(p) << "%"
            << (p.tta_shift ? ", test-time shifts of " + std::to_string(p.tta_shift) + " px" : "")
            << ")" << (a.out.empty() ? "" : "; wrote " + a.out) << "\n";
}

nlohmann::json evaluation_json(const Predictions& p) {
  const int classes = p.checkpoint.model.classes;
  const auto matrix = confusion_matrix(p.predicted, p.images.y, classes);
  nlohmann::json per_class = nlohmann::json::array();
  for (int c = 0; c < classes; ++c) {
    int n = 0;
    for (int v : matrix[c]) n += v;
    per_class.push_back(n ? nlohmann::json(double(matrix[c][c]) / n) : nlohmann::json(nullptr));
  }
  return {{"model", p.checkpoint.model.name}, {"images", p.predicted.size()},
          {"tta_shift", p.tta_shift},         {"accuracy", accuracy_of(p)},
          {"per_class_accuracy", per_class},  {"confusion_matrix", matrix}};
}

void print_evaluation(const nlohmann::json& e) {
  std::cout << "model " << e["model"].get<std::string>() << ", " << e["images"] << " images: "
            << "accuracy " << std::fixed << std::setprecision(2)
            << 100 * e["accuracy"].get<double>() << "%"
            << (e["tta_shift"] > 0 ? " (test-time shifts of " + e["tta_shift"].dump() + " px)" : "")
            << "\n\nper class (rows: true class; "
            << "columns: predicted)\n  class   acc  ";
  const auto& m = e["confusion_matrix"];
  for (size_t c = 0; c < m.size(); ++c) std::cout << std::setw(6) << c;
  std::cout << "\n";
  for (size_t r = 0; r < m.size(); ++r) {
    const auto& acc = e["per_class_accuracy"][r];
    std::cout << std::setw(7) << r << std::setw(7)
              << (acc.is_null() ? std::string("-")
                                : std::to_string(int(100 * acc.get<double>())) + "%")
              << "  ";
    for (const auto& v : m[r]) std::cout << std::setw(6) << v.get<int>();
    std::cout << "\n";
  }
}

void run_evaluate(const PredictArgs& a) {
  const nlohmann::json e = evaluation_json(predict(a));
  print_evaluation(e);
  if (!a.json.empty()) {
    write_file_atomic(a.json, e.dump(2) + "\n");
    std::cout << "wrote " << a.json << "\n";
  }
}

void add_common(CLI::App& cmd, PredictArgs& a) {
  cmd.add_option("--checkpoint", a.checkpoint, "a model checkpoint (.safetensors)")->required();
  add_data_options(cmd, a.data);
  cmd.get_option("--data")->required();
  add_device_option(cmd, a.device);
  cmd.add_option("--tta-shift", a.tta_shift,
                 "test-time augmentation: average over each image and its copies moved this "
                 "many pixels right, left, down and up (0: off)")
      ->default_val("0");
}

}  // namespace

void register_predict(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* predict_cmd = app.add_subcommand(
      "predict", "class probabilities of every test image of --data, by a saved network");
  add_common(*predict_cmd, *a);
  predict_cmd->add_option("--out", a->out,
                          "CSV file: index, predicted, p0..pC-1 (default: stdout)");
  predict_cmd->callback([a] { run_predict(*a); });

  auto b = std::make_shared<PredictArgs>();
  CLI::App* eval_cmd = app.add_subcommand(
      "evaluate",
      "accuracy, per-class accuracy and the confusion matrix on the test split of --data");
  add_common(*eval_cmd, *b);
  eval_cmd->add_option("--json", b->json, "also write the evaluation as JSON to this file");
  eval_cmd->callback([b] { run_evaluate(*b); });
}

}  // namespace sgdlab::cli
