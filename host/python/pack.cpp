#include "pack.hpp"

#include <Python.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "convert.hpp"
#include "data.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/devices.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/lane_options.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/optimizer.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab::python {

namespace {

Split split_named(const std::string& name) {
  if (name == "train") return Split::Train;
  if (name == "val") return Split::Val;
  if (name == "test") return Split::Test;
  throw py::value_error("split: expected 'train', 'val' or 'test', got '" + name + "'");
}

Capture capture_named(const std::string& name) {
  if (name == "step") return Capture::Step;
  if (name == "epoch") return Capture::Epoch;
  if (name == "none") return Capture::None;
  throw py::value_error("capture: expected 'step', 'epoch' or 'none', got '" + name + "'");
}

// One lane's settings from a Python dict, with the pack-level checks `train` makes
// (nesterov is SGD's).
LaneSettings lane_from(const py::handle& settings, int epochs, OptimizerKind optimizer,
                       const std::string& optimizer_name, const std::string& where) {
  LaneSettings lane = lane_settings_from(settings_json(settings, where), epochs, where);
  if (lane.nesterov && optimizer != OptimizerKind::Sgd)
    throw py::value_error(where + ": nesterov: a setting of SGD, not of optimizer " +
                          optimizer_name);
  return lane;
}

// Whether a lane's settings would be taken by a pack (sgdlab.optuna checks each trial
// on its own): raises what Pack() would.
void check_lane_settings(const py::handle& settings, int epochs, int batch,
                         const std::string& optimizer) {
  if (batch <= 0) throw py::value_error("batch: expected a batch size > 0");
  if (epochs <= 0) throw py::value_error("epochs: expected a number of epochs > 0");
  lane_from(settings, epochs, optimizer_named(optimizer, "optimizer").kind(), optimizer, "lane");
}

// Ctrl-C while a pack trains: asked between steps, with the GIL taken back for a moment,
// whether Python has a signal to handle. Only the main thread handles signals, so the
// check is made there only, and at most every 20 ms (a step can be far shorter). The
// handler's exception stays set for the caller to raise.
class SignalCheck {
 public:
  // Called with the GIL held, as an epoch starts.
  void arm() {
    const py::object main = py::module_::import("threading").attr("main_thread")();
    armed_ = PyThread_get_thread_ident() == main.attr("ident").cast<unsigned long>();
    last_ = std::chrono::steady_clock::now();
  }
  // Whether pending() can ever say yes this epoch (the main thread).
  bool armed() const { return armed_; }
  bool pending() {
    if (!armed_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(20)) return false;
    last_ = now;
    py::gil_scoped_acquire locked;
    return PyErr_CheckSignals() != 0;
  }

 private:
  bool armed_ = false;
  std::chrono::steady_clock::time_point last_;
};

class Pack {
 public:
  Pack(const std::string& model, const Data& data, int batch, int epochs, const py::list& lanes,
       const std::string& device, const std::string& optimizer, const std::string& capture,
       int eval_batch)
      : data_(data.data), epochs_(epochs) {
    if (batch <= 0) throw py::value_error("batch: expected a batch size > 0");
    if (epochs <= 0) throw py::value_error("epochs: expected a number of epochs > 0");
    if (lanes.size() == 0) throw py::value_error("lanes: expected at least one lane's settings");
    options_.batch = batch;
    options_.eval_batch = eval_batch;
    options_.capture = capture_named(capture);
    options_.optimizer = optimizer_named(optimizer, "optimizer").kind();
    for (size_t t = 0; t < lanes.size(); ++t)
      lanes_.push_back(lane_from(lanes[t], epochs, options_.optimizer, optimizer,
                                 "lanes[" + std::to_string(t) + "]"));
    spec_ = load_model(model);
    options_.stop_between_steps = [this] { return signals_.pending(); };
    py::gil_scoped_release unlocked;
    backend_ = make_backend(device, &notes_);
    device_data_ = std::make_unique<DeviceData>(*backend_, *data_);
    trainer_ = std::make_unique<Trainer>(*backend_, *device_data_, spec_, lanes_, options_);
  }

  // One epoch of every lane. A Ctrl-C between two steps puts the pack back to where the
  // epoch began and raises KeyboardInterrupt: the pack is never left half-updated.
  py::dict train_epoch() {
    const Busy busy(*this);
    if (trainer_->epochs_done() >= epochs_)
      throw py::value_error("the pack has trained its " + std::to_string(epochs_) + " epochs");
    std::vector<EpochStats> rows;
    bool stopped = false;
    signals_.arm();
    {
      py::gil_scoped_release unlocked;
      // Only an epoch that can be stopped needs a state to go back to: a recorded epoch
      // runs whole, and off the main thread no signal is checked.
      const bool stoppable = signals_.armed() && options_.capture != Capture::Epoch;
      const TrainerState before = stoppable ? trainer_->state() : TrainerState{};
      try {
        rows = trainer_->train_epoch();
      } catch (const EpochStopped&) {
        trainer_->restore(before);
        stopped = true;
      }
    }
    if (stopped) throw py::error_already_set();
    return epoch_dict(rows);
  }

  void freeze(int lane) {
    const Busy busy(*this);
    check_lane(lane);
    trainer_->prune(lane);
  }

  py::dict evaluate(const std::string& split) {
    const Busy busy(*this);
    const Split s = split_named(split);
    std::vector<EvalStats> stats;
    {
      py::gil_scoped_release unlocked;
      stats = trainer_->evaluate(s);
    }
    std::vector<double> loss, acc;
    for (const auto& e : stats) {
      loss.push_back(e.loss);
      acc.push_back(e.acc);
    }
    py::dict d;
    d["loss"] = to_numpy(loss);
    d["acc"] = to_numpy(acc);
    return d;
  }

  // Softmax outputs [n, lanes, classes] over a split, in the split's order.
  py::array_t<float> probabilities(const std::string& split) {
    const Busy busy(*this);
    const Split s = split_named(split);
    std::vector<float> p;
    {
      py::gil_scoped_release unlocked;
      p = trainer_->probabilities(s);
    }
    const py::ssize_t T = py::ssize_t(lanes_.size()), K = spec_.classes;
    py::array_t<float> a({py::ssize_t(p.size()) / (T * K), T, K});
    std::copy(p.begin(), p.end(), a.mutable_data());
    return a;
  }

  // Lane `lane` as `train` saves it (models/lane-T.safetensors): the evaluated weights,
  // its settings, the epochs done and the data's scaling.
  void save(int lane, const std::string& path) {
    const Busy busy(*this);
    check_lane(lane);
    py::gil_scoped_release unlocked;
    const std::vector<float> flat = trainer_->evaluated_parameters();
    save_model_checkpoint(path, {spec_, extract_lane(trainer_->plan(), flat, lane),
                                 model_hyperparameters(lanes_[size_t(lane)], options_.batch),
                                 trainer_->epochs_done(), data_->scaling, data_->format});
  }

  py::array_t<float> lane_parameters(int lane) {
    const Busy busy(*this);
    check_lane(lane);
    return to_numpy(extract_lane(trainer_->plan(), trainer_->evaluated_parameters(), lane));
  }

  py::dict lane_settings(int lane) const {
    check_lane(lane);
    nlohmann::json j = recorded_settings(lanes_[size_t(lane)]);
    return py::module_::import("json").attr("loads")(j.dump());
  }

  int lanes() const { return int(lanes_.size()); }
  int epochs() const { return epochs_; }
  int epochs_done() const { return trainer_->epochs_done(); }
  int steps_per_epoch() const { return trainer_->steps_per_epoch(); }
  std::string device() const { return backend_->describe(); }
  std::string notes() const { return notes_.str(); }

 private:
  // One call at a time: the GIL is released while the pack works, so another thread (or
  // a signal handler run between steps) could otherwise reach it mid-epoch.
  class Busy {
   public:
    explicit Busy(Pack& p) : lock_(p.busy_, std::try_to_lock) {
      if (!lock_.owns_lock())
        throw std::runtime_error("the pack is busy: another call on it has not returned yet");
    }

   private:
    std::unique_lock<std::mutex> lock_;
  };

  void check_lane(int lane) const {
    if (lane < 0 || lane >= int(lanes_.size()))
      throw py::index_error("lane " + std::to_string(lane) + " of a pack of " +
                            std::to_string(lanes_.size()) + " lanes");
  }

  py::dict epoch_dict(const std::vector<EpochStats>& rows) const {
    std::vector<double> train_loss, train_acc, val_loss, val_acc, grad_mean_abs, grad_l2, lr;
    std::vector<uint8_t> diverged, pruned;
    for (const auto& r : rows) {
      train_loss.push_back(r.train_loss);
      train_acc.push_back(r.train_acc);
      val_loss.push_back(r.val_loss);
      val_acc.push_back(r.val_acc);
      grad_mean_abs.push_back(r.grad_mean_abs);
      grad_l2.push_back(r.grad_l2);
      lr.push_back(r.lr);
      diverged.push_back(r.diverged);
      pruned.push_back(r.pruned);
    }
    py::dict d;
    d["epoch"] = rows.empty() ? 0 : rows[0].epoch;
    d["train_loss"] = to_numpy(train_loss);
    d["train_acc"] = to_numpy(train_acc);
    d["val_loss"] = to_numpy(val_loss);
    d["val_acc"] = to_numpy(val_acc);
    d["grad_mean_abs"] = to_numpy(grad_mean_abs);
    d["grad_l2"] = to_numpy(grad_l2);
    d["lr"] = to_numpy(lr);
    d["diverged"] = to_numpy(diverged).attr("astype")("bool");
    d["pruned"] = to_numpy(pruned).attr("astype")("bool");
    d["seconds"] = rows.empty() ? 0.0 : rows[0].seconds;
    return d;
  }

  std::mutex busy_;
  SignalCheck signals_;
  std::shared_ptr<const UspsData> data_;
  int epochs_;
  ModelSpec spec_;
  std::vector<LaneSettings> lanes_;
  TrainerOptions options_;
  std::ostringstream notes_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<DeviceData> device_data_;
  std::unique_ptr<Trainer> trainer_;
};

}  // namespace

void register_pack(py::module_& m) {
  m.def("_check_lane", &check_lane_settings, py::arg("settings"), py::arg("epochs"),
        py::arg("batch"), py::arg("optimizer"));
  py::class_<Pack>(m, "_Pack")
      .def(py::init<const std::string&, const Data&, int, int, const py::list&, const std::string&,
                    const std::string&, const std::string&, int>(),
           py::arg("model"), py::arg("data"), py::arg("batch"), py::arg("epochs"), py::arg("lanes"),
           py::arg("device"), py::arg("optimizer"), py::arg("capture"), py::arg("eval_batch"))
      .def("train_epoch", &Pack::train_epoch)
      .def("freeze", &Pack::freeze, py::arg("lane"))
      .def("evaluate", &Pack::evaluate, py::arg("split"))
      .def("probabilities", &Pack::probabilities, py::arg("split"))
      .def("save", &Pack::save, py::arg("lane"), py::arg("path"))
      .def("lane_parameters", &Pack::lane_parameters, py::arg("lane"))
      .def("lane_settings", &Pack::lane_settings, py::arg("lane"))
      .def_property_readonly("lanes", &Pack::lanes)
      .def_property_readonly("epochs", &Pack::epochs)
      .def_property_readonly("epochs_done", &Pack::epochs_done)
      .def_property_readonly("steps_per_epoch", &Pack::steps_per_epoch)
      .def_property_readonly("device", &Pack::device)
      .def_property_readonly("notes", &Pack::notes);
}

}  // namespace sgdlab::python
