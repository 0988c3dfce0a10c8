#include "sgdlab/engine/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>

#include "network_pass.hpp"
#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/cost.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/memory.hpp"
#include "sgdlab/engine/optimizer.hpp"

namespace sgdlab {

void validate(const LaneSettings& lane) {
  const Hyperparameter* which = nullptr;
  const std::string why = lane_refusal(lane, &which);
  if (!why.empty()) SGDLAB_INPUT_ERROR(which->name, ": ", why);
  if (lane.init == InitKind::Uniform && !(lane.init_low <= lane.init_high))
    SGDLAB_INPUT_ERROR("init uniform: expected low <= high, got ", lane.init_low, " > ",
                       lane.init_high);
}

namespace {

std::string shape_text(const Shape3& s) {
  return std::to_string(s.C) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W);
}

}  // namespace

void check_data_fits(const DeviceData& data, const ModelSpec& model) {
  const Shape3& in = data.image();
  if (in.C != model.input.C || in.H != model.input.H || in.W != model.input.W)
    SGDLAB_INPUT_ERROR("--data: the images are ", shape_text(in), " (channels x height x width) ",
                       "but model ", model.name, " expects ", shape_text(model.input));
  if (data.max_label() >= model.classes)
    SGDLAB_INPUT_ERROR("--data: label ", data.max_label(), " is not a class of model ", model.name,
                       " (", model.classes, " classes)");
}

// Samples times lanes in one evaluation batch, at most.
constexpr int kEvalRowsPerPack = 4096;

namespace {

int eval_rows_of(const TrainerOptions& options, int T) {
  return std::max(1, std::min(options.eval_batch, kEvalRowsPerPack / T));
}

}  // namespace

// The cost model's working set (parameters, gradients, velocities, the stored
// activations of a training batch), the evaluation batch's activations and the shuffles.
void check_pack_fits(Backend& be, const ModelSpec& model, int T, const TrainerOptions& options,
                     size_t train_samples, int packs) {
  const TrainingCost cost = training_cost(model, options.fuse);
  const double one =
      working_set_bytes(cost, T, options.batch) +
      sizeof(float) * double(T) * cost.stored_floats_per_sample * eval_rows_of(options, T) +
      sizeof(uint32_t) * double(T) * double(train_samples);
  const double need = one * packs;
  const bool host = be.device() == Device::Cpu;
  const double available = host ? double(available_host_memory()) : double(be.memory_available());
  if (need > available)
    SGDLAB_INPUT_ERROR(packs == 1 ? std::string("a pack") : std::to_string(packs) + " packs",
                       " of ", T, " lane", T == 1 ? "" : "s", " of ", model.name, " (", cost.params,
                       " parameters each) with batch ", options.batch, " needs ", byte_text(need),
                       " of ", host ? "host" : "device", " memory but ", byte_text(available),
                       " is available");
}

struct Trainer::Impl {
  Backend& be;
  const DeviceData& data;
  NetworkPlan plan;
  TrainerOptions opt;
  std::vector<LaneSettings> lanes;
  int T, B, steps, full_steps, tail;
  int epoch = 0;
  int64_t global_step = 0;
  bool warmed_up = false;  // the recorded step shapes have run once, eagerly

  const Optimizer& optim = optimizer(opt.optimizer);
  Buffer<float> params, grads;
  std::vector<Buffer<float>> slots;  // the optimiser's state, in optim.slots() order
  std::vector<float*> slot_ptrs;
  Buffer<ParamSlice> slices;
  Buffer<float> lr, momentum, dropout;
  Buffer<float> weight_decay, augment;  // allocated only when a lane uses them
  Buffer<float> adam;                   // beta1, beta2, eps per lane, for Adam and AdamW
  Buffer<float> smoothing;              // label smoothing per lane, when a lane has some
  Buffer<int32_t> nesterov;
  // The moving average's decay per lane and the average itself, when a lane keeps one;
  // evaluation then runs on the average (average_pass).
  Buffer<float> ema_decay, average;
  bool augmenting = false, elastic = false, scheduled = false, per_step = false;
  // Each lane's schedule. Per epoch: the epoch's rates are uploaded at its start. When
  // a lane's rate changes every step, the schedules are in backend memory and the
  // `scheduled_rates` op sets every lane's rate from the step counter before each update.
  std::vector<RateSchedule> rate_schedules;
  Buffer<RateSchedule> schedules;
  std::vector<float> lr_now;  // the rates of the epoch's first step, for its report
  Buffer<uint64_t> seeds;
  Buffer<LaneState> lane_state;
  Buffer<int64_t> counters;
  Buffer<uint32_t> perm;
  // The per-epoch sums in one buffer, read back with one download (one wait for the
  // device per epoch): train loss and correct count, evaluation loss and correct count
  // (T each), the gradient statistics, a copy of the lane states (T of them), then the
  // same statistics of the parameters (a NaN or infinity in a lane's weights shows there).
  Buffer<float> sums, probs;
  // Where each part of `sums` starts, for the ops that write it and the host that reads
  // the downloaded copy: one layout for both.
  struct SumsLayout {
    size_t T = 0, stats = 0;  // lanes; gradient statistics floats
    size_t train_loss() const { return 0; }
    size_t train_correct() const { return T; }
    size_t eval_loss() const { return 2 * T; }
    size_t eval_correct() const { return 3 * T; }
    size_t grad_accum() const { return 4 * T; }
    size_t zeroed_each_epoch() const { return 4 * T + stats; }  // the parts above
    size_t lane_states() const { return 4 * T + stats; }
    size_t param_sums() const { return 5 * T + stats; }
    size_t raw_eval() const { return 5 * T + 2 * stats; }  // the trained weights': loss, correct
    size_t total() const { return 7 * T + 2 * stats; }
  } layout;
  float* train_loss() { return sums.get() + layout.train_loss(); }
  float* train_correct() { return sums.get() + layout.train_correct(); }
  float* eval_loss() { return sums.get() + layout.eval_loss(); }
  float* eval_correct() { return sums.get() + layout.eval_correct(); }
  float* grad_accum() { return sums.get() + layout.grad_accum(); }
  float* lane_state_copy() { return sums.get() + layout.lane_states(); }
  float* param_sums() { return sums.get() + layout.param_sums(); }
  float* raw_eval_sums() { return sums.get() + layout.raw_eval(); }
  Activations train_acts, eval_acts;
  std::unique_ptr<NetworkPass> pass;  // made once the buffers it points into exist
  std::unique_ptr<NetworkPass> average_pass;
  bool averaging() const { return average_pass != nullptr; }
  const NetworkPass& evaluation_pass() const { return averaging() ? *average_pass : *pass; }
  std::unique_ptr<Recording> step_recording, tail_recording, epoch_recording;

  Impl(Backend& backend, const DeviceData& d, const ModelSpec& model, std::vector<LaneSettings> l,
       TrainerOptions o)
      : be(backend),
        data(d),
        plan(model, int(l.size())),
        opt(o),
        lanes(std::move(l)),
        T(int(lanes.size())),
        B(o.batch) {
    if (opt.batch <= 0) SGDLAB_INPUT_ERROR("--batch: expected a batch size > 0, got ", opt.batch);
    if (opt.eval_batch <= 0) SGDLAB_INPUT_ERROR("evaluation batch must be > 0");
    for (const auto& lane : lanes) {
      validate(lane);
      if (lane.nesterov && opt.optimizer != OptimizerKind::Sgd)
        SGDLAB_INPUT_ERROR("nesterov: a setting of SGD; this pack trains with ", optim.name());
    }
    check_data_fits(data, model);
    const size_t n_train = data.part(Split::Train).n;
    // As PyTorch's DataLoader (drop_last=False): full steps, then one shorter step with
    // the rest, so every sample is seen each epoch. Each shape is recorded once.
    full_steps = int(n_train / size_t(B));
    tail = int(n_train % size_t(B));
    steps = full_steps + (tail > 0);
    if (full_steps == 0)
      SGDLAB_INPUT_ERROR("--batch ", B, ": larger than the training set (", n_train, " samples)");

    if (opt.trains)  // batch norm cannot train a step of one value per feature
      for (const auto& l : plan.layers())
        for (int rows : {B, tail})
          if (rows != 0) layer_type(l.spec.kind).check_training_rows(l, rows);
    check_pack_fits(be, model, T, opt, n_train);
    params = Buffer<float>(be, plan.param_count());
    grads = Buffer<float>(be, plan.param_count());
    grads.zero();
    for (size_t i = 0; i < optim.slots().size(); ++i) {
      slots.emplace_back(be, plan.param_count());
      slots.back().zero();
      slot_ptrs.push_back(slots.back().get());
    }
    std::vector<LaneInit> inits;
    for (const auto& lane : lanes)
      inits.push_back({lane.seed, lane.init, lane.init_low, lane.init_high});
    params.upload(initial_parameters(plan, inits));
    slices = Buffer<ParamSlice>(be, plan.slices().size());
    slices.upload(plan.raw_slices());

    std::vector<float> h_lr, h_mu, h_drop;
    std::vector<uint64_t> h_seed;
    for (const auto& lane : lanes) {
      h_lr.push_back(lane.lr);
      h_mu.push_back(lane.momentum);
      h_drop.push_back(lane.dropout);
      h_seed.push_back(lane.seed);
    }
    lr = upload_vector(h_lr);
    lr_now = h_lr;
    momentum = upload_vector(h_mu);
    dropout = upload_vector(h_drop);
    seeds = upload_vector(h_seed);
    upload_options();
    lane_state = Buffer<LaneState>(be, T);
    lane_state.zero();  // LaneState::Training
    counters = Buffer<int64_t>(be, kCounterCount);
    counters.zero();
    perm = Buffer<uint32_t>(be, size_t(T) * n_train);
    const size_t stats = size_t(T) * (plan.param_layers() + 1) * 2;
    static_assert(sizeof(LaneState) == sizeof(float), "the lane states travel in the float buffer");
    layout = {size_t(T), stats};
    sums = Buffer<float>(be, layout.total());
    train_acts = make_activations(B);
    if (augmenting) train_acts.raw = Buffer<float>(be, train_acts.x.size());
    // Evaluation buffers hold eval_batch rows per lane; a wide pack gets fewer rows per
    // lane so that its buffers stay near those of a narrow one (a 32-lane CNN pack would
    // otherwise need 0.5 GB per activation).
    eval_acts = make_activations(eval_rows());
    // The recorded step shapes are planned now, where a backend may still time them.
    for (const auto& l : plan.layers())
      for (int rows : {B, tail})
        if (rows != 0) layer_type(l.spec.kind).plan(be, l, rows, T);
    pass = std::make_unique<NetworkPass>(be, plan, make_stages(plan, opt.fuse), T, params.get(),
                                         grads.get(), lane_arrays(), counters.get());
    if (ema_decay.size()) {
      average = Buffer<float>(be, params.size());
      be.copy(average.get(), params.get(), params.size() * sizeof(float));
      average_pass =
          std::make_unique<NetworkPass>(be, plan, make_stages(plan, opt.fuse), T, average.get(),
                                        grads.get(), lane_arrays(), counters.get());
    }
  }

  int eval_rows() const { return eval_rows_of(opt, T); }

  template <class V>
  Buffer<V> upload_vector(const std::vector<V>& host) {
    Buffer<V> buf(be, host.size());
    buf.upload(host);
    return buf;
  }
  // Each lane's value of an option, in backend memory only when some lane uses it.
  template <class V, class Of>
  Buffer<V> upload_if_used(Of of) {
    std::vector<V> host;
    for (const auto& l : lanes) host.push_back(V(of(l)));
    if (std::none_of(host.begin(), host.end(), [](V v) { return v != V(0); })) return {};
    return upload_vector(host);
  }

  // The options beyond the paper, in backend memory only when a lane uses one: without
  // them the ops run exactly as they always did.
  void upload_options() {
    std::vector<float> aug;
    for (const auto& l : lanes) {
      const Augment& g = l.augment;
      aug.insert(aug.end(), {g.shift, g.rotate, g.scale, g.elastic_alpha, g.elastic_sigma});
      static_assert(kAugmentFields == 5, "the fields above, in sgdlab/core/augment.hpp's order");
      augmenting = augmenting || g.on();
      elastic = elastic || g.elastic();
      scheduled = scheduled || !l.schedule.is_constant();
      per_step = per_step || l.schedule.per_step();
    }
    weight_decay = upload_if_used<float>([](const LaneSettings& l) { return l.weight_decay; });
    nesterov = upload_if_used<int32_t>([](const LaneSettings& l) { return l.nesterov ? 1 : 0; });
    if (augmenting) augment = upload_vector(aug);
    smoothing = upload_if_used<float>([](const LaneSettings& l) { return l.label_smoothing; });
    ema_decay = upload_if_used<float>([](const LaneSettings& l) { return l.ema; });
    if (optim.uses_betas()) {
      std::vector<float> betas;
      for (const auto& l : lanes) betas.insert(betas.end(), {l.beta1, l.beta2, l.eps});
      adam = upload_vector(betas);
    }
    if (!scheduled) return;
    for (const auto& l : lanes) rate_schedules.push_back(rate_schedule(l.lr, l.schedule, steps));
    if (per_step) schedules = upload_vector(rate_schedules);
  }

  // The rates of the epoch's first step (for its report), uploaded when they hold
  // through the epoch; per step, the op sets them (the recorded steps read them from
  // backend memory either way).
  void set_epoch_rates() {
    if (!scheduled) return;
    for (int t = 0; t < T; ++t)
      lr_now[t] = scheduled_rate(rate_schedules[t], int64_t(epoch) * steps);
    if (!per_step) lr.upload(lr_now);
  }

  LaneArrays lane_arrays() {
    return LaneArrays{lr.get(),         momentum.get(),     dropout.get(),  seeds.get(),
                      lane_state.get(), weight_decay.get(), nesterov.get(), augment.get(),
                      adam.get(),       ema_decay.get()};
  }

  Activations make_activations(int capacity) {
    Activations a;
    a.capacity = capacity;
    const size_t rows = size_t(capacity) * T;
    a.x = Buffer<float>(be, rows * plan.spec().input.size());
    a.y = Buffer<int32_t>(be, rows);
    size_t widest = plan.spec().input.size();
    for (const auto& l : plan.layers()) {
      a.outs.emplace_back(be, rows * l.out.size());
      widest = std::max(widest, l.out.size());
    }
    a.dlogits = Buffer<float>(be, rows * plan.spec().classes);
    a.ping = Buffer<float>(be, rows * widest);
    a.pong = Buffer<float>(be, rows * widest);
    return a;
  }

  // One training step; every value that changes between steps is read from backend
  // memory (counters, lane arrays), so the step can be recorded once and replayed.
  // `rows` is B, or the tail's size on the last step of an epoch; the gather still
  // starts at counters[kCounterEpochStep] * B.
  void step(int rows) {
    const auto& train = data.part(Split::Train);
    Activations& a = train_acts;
    float* gathered = augmenting ? a.raw.get() : a.x.get();
    be.gather({rows, T, data.features(), train.n, size_t(B), 0}, train.x.get(), train.y.get(),
              perm.get(), counters.get(), gathered, a.y.get());
    if (augmenting) {
      const Shape3& in = plan.spec().input;
      be.augment({rows, T, in.C, in.H, in.W, elastic}, lane_arrays(), counters.get(),
                 data.background(), gathered, a.x.get());
    }
    const float* logits = pass->forward(a, rows, true);
    be.softmax_xent({rows, T, plan.spec().classes, smoothing.get()}, logits, a.y.get(),
                    a.dlogits.get(), train_loss(), train_correct(), lane_state.get());
    pass->backward(a, rows);
    ScopedRange range(be, "update");
    auto raw = slices.get();
    if (per_step) be.scheduled_rates(T, schedules.get(), counters.get(), lr.get());
    be.grad_stats({raw, int(slices.size()), plan.param_layers(), T}, grads.get(), grad_accum());
    optim.update({be, raw, int(slices.size()), T, params.size(), lane_arrays(), params.get(),
                  grads.get(), slot_ptrs, counters.get()});
    if (averaging())
      be.ema_update({raw, int(slices.size()), T, params.size()}, lane_arrays(), counters.get(),
                    params.get(), average.get());
  }

  // Runs `body(chunk_rows, offset, logits)` over a split in evaluation batches, with the
  // weights evaluation uses unless `with` is given.
  template <class Body>
  void for_each_eval_batch(Split split, Body body, const NetworkPass* with = nullptr) {
    const NetworkPass& net = with ? *with : evaluation_pass();
    const auto& part = data.part(split);
    Activations& a = eval_acts;
    for (size_t off = 0; off < part.n; off += size_t(a.capacity)) {
      const int rows = int(std::min(part.n - off, size_t(a.capacity)));
      // Every lane sees the same samples: a shared identity permutation (stride 0).
      be.gather({rows, T, data.features(), 0, 0, off}, part.x.get(), part.y.get(), data.identity(),
                nullptr, a.x.get(), a.y.get());
      body(rows, off, net.forward(a, rows, false));
    }
  }

  // Enqueues the evaluation of a split into eval_loss() and eval_correct() (with the
  // trained weights, not the average, when `with` is the training pass).
  void run_evaluation(Split split, const NetworkPass* with = nullptr) {
    ScopedRange range(be, "evaluate");
    be.fill_zero(eval_loss(), 2 * size_t(T) * sizeof(float));
    for_each_eval_batch(
        split,
        [&](int rows, size_t, const float* logits) {
          be.softmax_xent({rows, T, plan.spec().classes}, logits, eval_acts.y.get(), nullptr,
                          eval_loss(), eval_correct(), nullptr);
        },
        with);
  }

  // Loss and accuracy per lane from the evaluation sums (`host` holds the whole buffer).
  std::vector<EvalStats> eval_stats(const std::vector<float>& host, Split split) const {
    const double n = double(data.part(split).n);
    std::vector<EvalStats> out(T);
    for (int t = 0; t < T; ++t)
      out[t] = {host[layout.eval_loss() + t] / n, host[layout.eval_correct() + t] / n};
    return out;
  }

  std::vector<EvalStats> evaluate(Split split) {
    run_evaluation(split);
    return eval_stats(sums.download(), split);
  }

  // Every step of an epoch: the full ones, then the shorter tail.
  // Every step of an epoch; `stoppable` asks TrainerOptions::stop_between_steps before
  // each (never inside a recording).
  void run_steps(bool stoppable = false) {
    for (int s = 0; s < full_steps; ++s) {
      if (stoppable) stop_if_asked();
      ScopedRange step_range(be, "step");
      step(B);
    }
    if (tail) {
      if (stoppable) stop_if_asked();
      ScopedRange step_range(be, "step");
      step(tail);
    }
  }

  void stop_if_asked() const {
    if (opt.stop_between_steps && opt.stop_between_steps())
      throw EpochStopped(__FILE__, __LINE__, "the epoch was stopped between two steps");
  }

  // Runs the step shapes about to be recorded once, eagerly, then puts back every value
  // they changed (parameters, momentum, lane states, counters, sums). Libraries set up
  // on their first call (cuDNN and cuBLAS load kernels and may synchronise) and scratch
  // areas take their size; neither may happen inside a capture, where an implicit
  // synchronisation invalidates it. The epoch then trains exactly as without this.
  void warm_up_before_recording(const int64_t* counters_now) {
    ScopedRange range(be, "warm-up");
    Buffer<float> saved_params(be, params.size());
    std::vector<Buffer<float>> saved_slots;
    Buffer<LaneState> saved_state(be, lane_state.size());
    Buffer<float> saved_average;
    be.copy(saved_params.get(), params.get(), params.size() * sizeof(float));
    if (averaging()) {
      saved_average = Buffer<float>(be, average.size());
      be.copy(saved_average.get(), average.get(), average.size() * sizeof(float));
    }
    for (const auto& slot : slots) {
      saved_slots.emplace_back(be, slot.size());
      be.copy(saved_slots.back().get(), slot.get(), slot.size() * sizeof(float));
    }
    be.copy(saved_state.get(), lane_state.get(), lane_state.size() * sizeof(LaneState));
    step(B);
    if (tail) step(tail);
    be.copy(params.get(), saved_params.get(), params.size() * sizeof(float));
    if (averaging()) be.copy(average.get(), saved_average.get(), average.size() * sizeof(float));
    for (size_t i = 0; i < slots.size(); ++i)
      be.copy(slots[i].get(), saved_slots[i].get(), slots[i].size() * sizeof(float));
    be.copy(lane_state.get(), saved_state.get(), lane_state.size() * sizeof(LaneState));
    counters.upload(counters_now, kCounterCount);
    be.fill_zero(sums.get(), layout.zeroed_each_epoch() * sizeof(float));
    be.synchronize();  // the saved copies are read before they are freed
    warmed_up = true;
  }

  std::vector<EpochStats> train_epoch() {
    SGDLAB_CHECK(opt.trains, "a trainer made to evaluate does not train");
    ScopedRange range(be, "epoch");
    const auto start = std::chrono::steady_clock::now();
    const auto& train = data.part(Split::Train);
    be.shuffle(T, int(train.n), seeds.get(), uint32_t(epoch), perm.get());
    set_epoch_rates();
    const int64_t counters_now[kCounterCount] = {global_step, 0};
    counters.upload(counters_now, kCounterCount);
    be.fill_zero(sums.get(), layout.zeroed_each_epoch() * sizeof(float));
    if (opt.capture != Capture::None && !warmed_up) warm_up_before_recording(counters_now);
    // Inside a replayed graph the forward/backward/update ranges are not seen again: each
    // replay is one "step" (or "steps") range.
    switch (opt.capture) {
      case Capture::Epoch: {
        if (!epoch_recording) epoch_recording = be.record([this] { run_steps(); });
        ScopedRange steps_range(be, "steps");
        epoch_recording->replay();
        break;
      }
      case Capture::Step:
        if (!step_recording) step_recording = be.record([this] { step(B); });
        if (tail && !tail_recording) tail_recording = be.record([this] { step(tail); });
        for (int s = 0; s < full_steps; ++s) {
          stop_if_asked();
          ScopedRange step_range(be, "step");
          step_recording->replay();
        }
        if (tail) {
          stop_if_asked();
          ScopedRange step_range(be, "step");
          tail_recording->replay();
        }
        break;
      case Capture::None:
        run_steps(true);
        break;
    }
    global_step += steps;
    if (averaging()) {  // the trained weights' own validation figures first
      run_evaluation(Split::Val, pass.get());
      be.copy(raw_eval_sums(), eval_loss(), 2 * size_t(T) * sizeof(float));
    }
    run_evaluation(Split::Val);
    be.copy(lane_state_copy(), lane_state.get(), size_t(T) * sizeof(LaneState));
    // The softmax marks a lane whose loss turns non-finite; weights can turn NaN with the
    // loss still finite (a ReLU gives 0 for NaN), so their sums are checked too.
    be.fill_zero(param_sums(), layout.stats * sizeof(float));
    be.grad_stats({slices.get(), int(slices.size()), plan.param_layers(), T}, params.get(),
                  param_sums());
    const std::vector<float> host = sums.download();
    const auto val = eval_stats(host, Split::Val);
    const float* loss = host.data() + layout.train_loss();
    const float* correct = host.data() + layout.train_correct();
    std::vector<LaneState> state(T);
    std::memcpy(state.data(), host.data() + layout.lane_states(), size_t(T) * sizeof(LaneState));
    mark_non_finite_weights(host.data() + layout.param_sums(), state);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int layers = plan.param_layers();
    const double samples = double(train.n);
    std::vector<EpochStats> rows(T);
    for (int t = 0; t < T; ++t) {
      EpochStats& r = rows[t];
      r.lane = t;
      r.epoch = epoch + 1;
      r.train_loss = loss[t] / samples;
      r.train_acc = correct[t] / samples;
      r.val_loss = val[t].loss;
      r.val_acc = val[t].acc;
      if (averaging()) {
        const float* raw = host.data() + layout.raw_eval();
        r.averaged = true;
        r.raw_val_loss = raw[t] / double(data.part(Split::Val).n);
        r.raw_val_acc = raw[T + t] / double(data.part(Split::Val).n);
      }
      const float* g = host.data() + layout.grad_accum() + size_t(t) * (layers + 1) * 2;
      for (int l = 0; l < layers; ++l) {
        r.layer_grad_mean_abs.push_back(g[2 * l] / steps);
        r.layer_grad_l2.push_back(g[2 * l + 1] / steps);
      }
      r.grad_mean_abs = g[2 * layers] / steps;
      r.grad_l2 = g[2 * layers + 1] / steps;
      r.lr = lr_now[t];
      r.seconds = seconds;
      r.diverged = state[t] == LaneState::Diverged;
      r.pruned = state[t] == LaneState::Pruned;
    }
    ++epoch;
    return rows;
  }

  // A training lane whose parameters hold a NaN or infinity (their sums are not finite)
  // is diverged, and frozen as the softmax freezes one whose loss turned non-finite.
  void mark_non_finite_weights(const float* sums_of_params, std::vector<LaneState>& state) {
    const int stride = (plan.param_layers() + 1) * 2;
    for (int t = 0; t < T; ++t) {
      const float* all = sums_of_params + size_t(t) * stride + 2 * plan.param_layers();
      if (state[t] != LaneState::Training || (std::isfinite(all[0]) && std::isfinite(all[1])))
        continue;
      state[t] = LaneState::Diverged;
      be.upload(lane_state.get() + t, &state[t], sizeof(LaneState));
    }
  }

  std::vector<float> probabilities(Split split) {
    const int classes = plan.spec().classes;
    const size_t n = data.part(split).n;
    std::vector<float> out(n * T * classes);
    if (!probs.size()) probs = Buffer<float>(be, size_t(eval_acts.capacity) * T * classes);
    for_each_eval_batch(split, [&](int rows, size_t off, const float* logits) {
      be.softmax({rows, T, classes}, logits, probs.get());
      be.download(out.data() + off * T * classes, probs.get(),
                  size_t(rows) * T * classes * sizeof(float));
    });
    return out;
  }
};

Trainer::Trainer(Backend& backend, const DeviceData& data, const ModelSpec& model,
                 std::vector<LaneSettings> lanes, TrainerOptions options)
    : impl_(std::make_unique<Impl>(backend, data, model, std::move(lanes), options)) {}
Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;

const NetworkPlan& Trainer::plan() const {
  return impl_->plan;
}
int Trainer::lanes() const {
  return impl_->T;
}
int Trainer::steps_per_epoch() const {
  return impl_->steps;
}
int Trainer::epochs_done() const {
  return impl_->epoch;
}
std::vector<EpochStats> Trainer::train_epoch() {
  return impl_->train_epoch();
}
std::vector<EvalStats> Trainer::evaluate(Split split) {
  return impl_->evaluate(split);
}
std::vector<float> Trainer::probabilities(Split split) {
  return impl_->probabilities(split);
}

void Trainer::prune(int lane) {
  SGDLAB_CHECK(lane >= 0 && lane < impl_->T, "a lane of this pack");
  const LaneState pruned = LaneState::Pruned;
  impl_->be.upload(impl_->lane_state.get() + lane, &pruned, sizeof(LaneState));
}

std::vector<bool> Trainer::diverged() const {
  const auto state = impl_->lane_state.download();
  std::vector<bool> out;
  for (LaneState s : state) out.push_back(s == LaneState::Diverged);
  return out;
}

std::vector<float> Trainer::parameters() const {
  return impl_->params.download();
}
std::vector<float> Trainer::evaluated_parameters() const {
  return impl_->averaging() ? impl_->average.download() : impl_->params.download();
}
TrainerState Trainer::state() const {
  const Impl& m = *impl_;
  TrainerState s;
  s.params = m.params.download();
  s.optimizer = m.optim.name();
  for (size_t i = 0; i < m.slots.size(); ++i)
    s.slots.push_back({m.optim.slots()[i], m.slots[i].download()});
  s.lanes = m.lane_state.download();
  if (m.averaging()) s.average = m.average.download();
  s.epoch = m.epoch;
  s.global_step = m.global_step;
  return s;
}

void Trainer::restore(const TrainerState& s) {
  Impl& m = *impl_;
  if (s.optimizer != m.optim.name())
    SGDLAB_INPUT_ERROR("the saved state is of optimizer ", s.optimizer, "; the pack trains with ",
                       m.optim.name());
  for (size_t i = 0; i < m.slots.size(); ++i)
    if (i >= s.slots.size() || s.slots[i].name != m.optim.slots()[i] ||
        s.slots[i].data.size() != m.slots[i].size())
      SGDLAB_INPUT_ERROR("the saved state has no ", m.optim.slots()[i], " of ", m.slots[i].size(),
                         " floats for the ", m.optim.name(), " optimizer");
  if (s.params.size() != m.params.size() || s.slots.size() != m.slots.size() ||
      s.lanes.size() != size_t(m.T) || s.epoch < 0 || s.global_step < 0)
    SGDLAB_INPUT_ERROR("the saved state does not fit this pack (", s.params.size(),
                       " parameters and ", s.lanes.size(), " lanes; the pack has ", m.params.size(),
                       " and ", m.T, ")");
  if (s.average.size() != m.average.size())
    SGDLAB_INPUT_ERROR(m.averaging() ? "the saved state has no moving average (ema) of the weights"
                                     : "the saved state keeps a moving average (ema) of the "
                                       "weights; no lane of the pack does");
  m.params.upload(s.params);
  if (m.averaging()) m.average.upload(s.average);
  for (size_t i = 0; i < m.slots.size(); ++i) m.slots[i].upload(s.slots[i].data);
  m.lane_state.upload(s.lanes);
  m.epoch = s.epoch;
  m.global_step = s.global_step;
}

void Trainer::set_parameters(const std::vector<float>& flat) {
  SGDLAB_CHECK(flat.size() == impl_->params.size(), "a flat buffer of ", impl_->params.size());
  impl_->params.upload(flat);
  if (impl_->averaging()) impl_->average.upload(flat);
}

}  // namespace sgdlab
