#pragma once
// Model files: a network as JSON, for the models users bring. The three presets are
// written in it in data/models/. The schema (README "Model files"):
//
//   {"name": "lenet5", "input": [1, 28, 28], "classes": 10,
//    "layers": [{"type": "conv2d", "out": 6, "kernel": 5, "pad": 2}, {"type": "relu"},
//               {"type": "max-pool", "kernel": 2}, ..., {"type": "dense", "out": 10}]}
//
// input is [channels, height, width]. Layer types: dense (out), conv2d and local2d
// (out, kernel, stride = 1, pad = 0), max-pool (kernel, stride = kernel), relu, tanh,
// sigmoid, dropout (at the lane's --dropout rate). The flatten before a dense layer is
// implicit; the last layer gives `classes` outputs.
#include <nlohmann/json.hpp>
#include <string>

#include "sgdlab/engine/model.hpp"

namespace sgdlab {

// A preset name (mlp, cnn, lcnn) or the path of a model file. Throws InputError naming
// the file, the layer and what was expected.
ModelSpec load_model(const std::string& name_or_path);

// The spec of a model file's JSON; `source` names it in errors.
ModelSpec model_from_json(const nlohmann::json& j, const std::string& source);
// The model file of a spec (model_from_json(model_to_json(m)) gives m back).
nlohmann::json model_to_json(const ModelSpec& m);

// Throws InputError when a layer does not fit its input or the outputs are not
// `classes`: "SOURCE: layer 3 conv2d: input 64x2x2 is smaller than kernel 3 with pad 0".
void check_model(const ModelSpec& m, const std::string& source);

bool operator==(const LayerSpec& a, const LayerSpec& b);

}  // namespace sgdlab
