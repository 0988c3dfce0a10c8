#pragma once
// A trained network as an ONNX model (docs/onnx.md), written with the ONNX library's own
// protobuf classes and checked by its checker and strict shape inference before anyone
// sees it.
#include <string>

#include "sgdlab/engine/checkpoint.hpp"

namespace sgdlab {

// The opsets sgdlab writes: 13 (the oldest its export is written and tested against) up
// to the newest the linked ONNX library knows.
constexpr int kOnnxMinOpset = 13;
constexpr int kOnnxDefaultOpset = 17;
int onnx_max_opset();
// The ONNX library's version ("1.12.0").
const char* onnx_library_version();

// The serialized ONNX model of a model checkpoint: input "input" [N, C, H, W] float32
// (N symbolic), outputs "logits" and "probabilities" [N, classes], and the checkpoint's
// model file, hyperparameters and data scaling in the metadata. `source` names the
// checkpoint in messages. InputError (naming "--opset") for an opset outside
// [kOnnxMinOpset, onnx_max_opset()] or one that lacks an operator the network needs.
std::string onnx_model_bytes(const ModelCheckpoint& c, int opset, const std::string& source);

}  // namespace sgdlab
