#pragma once
// What sgdlab keeps of a run (docs/checkpoints.md): one trained network per file, its
// tensors named and laid out as PyTorch's state_dict, with the model file, the lane's
// hyperparameters and the data's scaling in the metadata; and the resume state of a
// whole pack.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/safetensors.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

// A trained network, as a model checkpoint holds it.
struct ModelCheckpoint {
  ModelSpec model;
  std::vector<float> params;       // a T = 1 flat buffer of NetworkPlan(model, 1)
  nlohmann::json hyperparameters;  // model_hyperparameters (engine/hyperparameters.hpp)
  int epoch = 0;
  Scaling scaling;
  std::string data_format;
};

// The tensors of one network (a T = 1 flat buffer), in PyTorch's layouts.
std::vector<Tensor> model_tensors(const NetworkPlan& single, const std::vector<float>& params);
// The T = 1 flat buffer from those tensors; throws InputError for a missing tensor or a
// shape that does not match the model (`source` names the file).
std::vector<float> params_from_tensors(const NetworkPlan& single, const SafetensorsFile& file,
                                       const std::string& source);

// Each layer's label and its input and output shapes, [C, H, W], as the engine computes
// them: [{"label": "conv1", "in": [1, 16, 16], "out": [32, 14, 14]}, ...]. A model
// checkpoint records it, so that a reader building the network (tools/to_pytorch.py)
// need not compute them again.
nlohmann::json layer_shapes(const NetworkPlan& plan);

void save_model_checkpoint(const std::string& path, const ModelCheckpoint& c);
ModelCheckpoint load_model_checkpoint(const std::string& path);

// The resume state of a pack and the settings it was trained with.
struct ResumeCheckpoint {
  TrainerState state;
  nlohmann::json config;   // what a resume must match
  nlohmann::json metrics;  // every epoch's rows so far (a list of metrics.jsonl objects)
};

void save_resume_checkpoint(const std::string& path, const ResumeCheckpoint& c);
ResumeCheckpoint load_resume_checkpoint(const std::string& path);

}  // namespace sgdlab
