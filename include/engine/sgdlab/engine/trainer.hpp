#pragma once
// Trains a pack of T lanes of one model and one batch size: minibatch SGD with
// momentum and cross-entropy, each lane with its own lr, momentum, dropout, seed,
// initialisation and shuffles. A single run is a pack with T = 1.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/buffer.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/optimizer.hpp"
#include "sgdlab/engine/schedule.hpp"

namespace sgdlab {

// Training-time augmentation of a lane: the largest shift (pixels), rotation (degrees)
// and relative scale change drawn for an image, and an elastic distortion (Simard et
// al. 2003): uniform noise smoothed by a Gaussian of standard deviation elastic_sigma
// pixels, times elastic_alpha pixels (sgdlab/core/augment.hpp); all 0: off.
struct Augment {
  float shift = 0, rotate = 0, scale = 0;
  float elastic_alpha = 0, elastic_sigma = 0;
  bool elastic() const { return elastic_alpha != 0; }
  bool on() const { return shift != 0 || rotate != 0 || scale != 0 || elastic(); }
};

struct LaneSettings {
  float lr = 0.01f;
  float momentum = 0.9f;
  float dropout = 0.0f;
  uint64_t seed = 1;
  InitKind init = InitKind::Xavier;
  float init_low = 0, init_high = 0;  // for InitKind::Uniform
  // Beyond the paper; the defaults leave training exactly as without them.
  float weight_decay = 0;  // L2 on weights (not biases), coupled as in PyTorch's SGD
  bool nesterov = false;   // SGD only
  // Adam and AdamW (TrainerOptions::optimizer), PyTorch's defaults.
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  // The training loss's label smoothing (PyTorch's cross_entropy label_smoothing); the
  // evaluation loss stays plain cross-entropy.
  float label_smoothing = 0;
  // The decay of an exponential moving average of the weights and the batch-norm
  // statistics, updated after every step (AveragedModel with get_ema_multi_avg_fn), which
  // evaluation and the saved models use; 0: none.
  float ema = 0;
  Schedule schedule;  // the lr of each epoch
  Augment augment;
};

// Throws InputError, naming the field (engine/hyperparameters.hpp), when a value is
// outside what training accepts.
void validate(const LaneSettings& lane);

// ValDistorted: the validation images under a fixed distortion (engine/distort.hpp),
// present when the DeviceData was made with one.
enum class Split { Train, Val, Test, ValDistorted };

// Fixed random distortions of the validation images (engine/distort.hpp); 0 copies: none.
struct Distortion {
  int copies = 0;
  Augment widths;               // the largest shift, rotation and scale change
  uint64_t seed = 0x44495354u;  // "DIST": one set of images for every trial
};

class DeviceData;
// Throws InputError, giving both shapes, when the data's images are not the model's
// input, or naming the label when one is not a class of the model.
void check_data_fits(const DeviceData& data, const ModelSpec& model);

// The data set in backend memory, uploaded once and then only read, so that every pack
// on the device may read it from its own backend (backend.hpp: upload() returns once
// the data is in place).
class DeviceData {
 public:
  DeviceData(Backend& backend, const UspsData& data, const Distortion& distorted_val = {});
  struct Part {
    Buffer<float> x;
    Buffer<int32_t> y;
    size_t n = 0;
  };
  const Part& part(Split s) const;
  // Whether the ValDistorted part was made, and how.
  bool has_distorted_val() const { return distortion_.copies > 0; }
  const Distortion& distortion() const { return distortion_; }
  int features() const { return features_; }
  const Shape3& image() const { return image_; }
  int32_t max_label() const { return max_label_; }
  // The smallest training pixel: what augmentation fills in outside an image.
  float background() const { return background_; }
  // 0, 1, ..., n-1 for the largest part: the order in which evaluation reads.
  const uint32_t* identity() const { return identity_.get(); }

 private:
  int features_;
  Shape3 image_;
  int32_t max_label_ = 0;
  float background_ = 0;
  Part train_, val_, test_, val_distorted_;
  Distortion distortion_;
  Buffer<uint32_t> identity_;
};

// What the trainer records once and replays (a CUDA graph on the GPU): nothing, one
// training step, or a whole epoch's steps (one launch per epoch).
enum class Capture { None, Step, Epoch };

struct TrainerOptions {
  int batch = 32;
  int eval_batch = 512;  // samples per lane in an evaluation batch (fewer in wide packs)
  Capture capture = Capture::Step;
  // Run ReLU + max-pool and activation + dropout as fused ops (the same numbers in
  // fewer passes and launches); off runs every layer as its own op.
  bool fuse = true;
  // One per pack, as the batch size (optimizer.hpp): SGD with momentum, Adam or AdamW.
  OptimizerKind optimizer = OptimizerKind::Sgd;
  // false: a trainer made only to evaluate (test-time shifts, predict), whose batch size
  // is then not held against what the layers can train; train_epoch is refused.
  bool trains = true;
  // Asked before each step where the host drives the steps (Capture::Step and None; a
  // recorded epoch runs whole): true stops the epoch there with EpochStopped. For a
  // Ctrl-C from Python; null: never.
  std::function<bool()> stop_between_steps;
};

// train_epoch stopped between two steps (TrainerOptions::stop_between_steps). The epoch
// is half done: put the pack back with restore() (to a state taken before it) before
// using it again.
class EpochStopped : public Error {
 public:
  using Error::Error;
};

// Throws InputError, with what it needs and what is available, when `packs` packs of
// `lanes` lanes of `model` (trained on `train_samples` samples) cannot fit in the memory
// of `backend`'s device: refused before anything is allocated. Trainer checks its own pack.
void check_pack_fits(Backend& backend, const ModelSpec& model, int lanes,
                     const TrainerOptions& options, size_t train_samples, int packs = 1);

struct EpochStats {
  int lane = 0, epoch = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;
  double grad_mean_abs = 0, grad_l2 = 0;  // averaged over the epoch's steps
  std::vector<double> layer_grad_mean_abs, layer_grad_l2;
  double seconds = 0;
  double lr = 0;          // the learning rate used this epoch
  bool diverged = false;  // the lane's loss turned NaN/Inf; it is frozen
  bool pruned = false;
  // With a moving average (LaneSettings::ema), val_* are the average's and raw_val_* the
  // trained weights' own.
  bool averaged = false;
  double raw_val_loss = 0, raw_val_acc = 0;
};

// Everything a pack needs to go on from an epoch boundary: the random streams are
// counter-based, so the epoch and the global step are their whole state.
struct TrainerState {
  std::vector<float> params;  // the flat buffer of all lanes
  // The optimiser's state slots (optimizer.hpp), each as flat as the parameters, in the
  // optimiser's slots() order.
  struct Slot {
    std::string name;
    std::vector<float> data;
  };
  std::string optimizer = "sgd";
  std::vector<Slot> slots;
  std::vector<LaneState> lanes;
  std::vector<float> average;  // the moving average, as flat as the parameters (or none)
  int epoch = 0;
  int64_t global_step = 0;
};

struct EvalStats {
  double loss = 0, acc = 0;
};

class Trainer {
 public:
  Trainer(Backend& backend, const DeviceData& data, const ModelSpec& model,
          std::vector<LaneSettings> lanes, TrainerOptions options = {});
  ~Trainer();
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;

  const NetworkPlan& plan() const;
  int lanes() const;
  int steps_per_epoch() const;
  int epochs_done() const;

  // One epoch of training, then the validation pass; one row per lane.
  std::vector<EpochStats> train_epoch();
  std::vector<EvalStats> evaluate(Split split);
  // Softmax outputs [n, T, classes] over a split, in file order.
  std::vector<float> probabilities(Split split);

  // Stops a lane's updates (pruning); its metrics keep being reported.
  void prune(int lane);
  std::vector<bool> diverged() const;

  // The trained weights; those that evaluation uses (the moving average where the pack
  // keeps one, LaneSettings::ema: a lane without one has a copy of its weights there);
  // setting the parameters sets the average too.
  std::vector<float> parameters() const;
  std::vector<float> evaluated_parameters() const;
  void set_parameters(const std::vector<float>& flat);

  // The pack's state between epochs, and putting it back (same model and lanes).
  TrainerState state() const;
  void restore(const TrainerState& s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sgdlab
