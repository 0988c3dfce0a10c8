#include "sgdlab/engine/metrics_io.hpp"

#include <cmath>
#include <iomanip>

#include "sgdlab/core/error.hpp"

namespace sgdlab {

nlohmann::json epoch_json(const EpochStats& s, const std::vector<std::string>& layer_names) {
  // nlohmann writes NaN/Inf (a diverged lane) as null.
  nlohmann::json j = {{"lane", s.lane},
                      {"epoch", s.epoch},
                      {"train_loss", s.train_loss},
                      {"train_acc", s.train_acc},
                      {"val_loss", s.val_loss},
                      {"val_acc", s.val_acc},
                      {"grad_mean_abs", s.grad_mean_abs},
                      {"grad_l2", s.grad_l2},
                      {"seconds", s.seconds},
                      {"lr", s.lr},
                      {"diverged", s.diverged}};
  if (s.averaged) {  // val_* are the moving average's
    j["raw_val_loss"] = s.raw_val_loss;
    j["raw_val_acc"] = s.raw_val_acc;
  }
  nlohmann::json layers = nlohmann::json::object();
  for (size_t l = 0; l < layer_names.size() && l < s.layer_grad_l2.size(); ++l)
    layers[layer_names[l]] = {{"grad_mean_abs", s.layer_grad_mean_abs[l]},
                              {"grad_l2", s.layer_grad_l2[l]}};
  j["layers"] = layers;
  return j;
}

MetricsWriter::MetricsWriter(const std::string& dir, std::vector<std::string> layer_names)
    : layer_names_(std::move(layer_names)),
      jsonl_(dir + "/metrics.jsonl", std::ios::trunc),
      csv_(dir + "/metrics.csv", std::ios::trunc) {
  if (!jsonl_ || !csv_) SGDLAB_INPUT_ERROR(dir, ": cannot write metrics files");
  csv_ << "lane,epoch,train_loss,train_acc,val_loss,val_acc,grad_mean_abs,grad_l2,seconds,diverged";
  for (const auto& n : layer_names_) csv_ << "," << n << "_grad_mean_abs," << n << "_grad_l2";
  csv_ << "\n";
  csv_.flush();
}

void MetricsWriter::append(const std::vector<EpochStats>& rows) {
  csv_ << std::setprecision(9);
  for (const EpochStats& s : rows) {
    jsonl_ << epoch_json(s, layer_names_).dump() << "\n";
    csv_ << s.lane << "," << s.epoch << "," << s.train_loss << "," << s.train_acc << ","
         << s.val_loss << "," << s.val_acc << "," << s.grad_mean_abs << "," << s.grad_l2 << ","
         << s.seconds << "," << (s.diverged ? 1 : 0);
    for (size_t l = 0; l < s.layer_grad_l2.size(); ++l)
      csv_ << "," << s.layer_grad_mean_abs[l] << "," << s.layer_grad_l2[l];
    csv_ << "\n";
  }
  jsonl_.flush();
  csv_.flush();
  if (!jsonl_ || !csv_) SGDLAB_INPUT_ERROR("writing metrics failed (disk full?)");
}

}  // namespace sgdlab
