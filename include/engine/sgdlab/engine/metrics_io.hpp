#pragma once
// Per-epoch metrics as JSON lines and CSV rows, appended as training goes so that a
// crash loses at most the epoch in flight.
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

nlohmann::json epoch_json(const EpochStats& s, const std::vector<std::string>& layer_names);

class MetricsWriter {
 public:
  // Creates (truncates) DIR/metrics.jsonl and DIR/metrics.csv.
  MetricsWriter(const std::string& dir, std::vector<std::string> layer_names);
  void append(const std::vector<EpochStats>& rows);

 private:
  std::vector<std::string> layer_names_;
  std::ofstream jsonl_, csv_;
};

}  // namespace sgdlab
