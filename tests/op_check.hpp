#pragma once
// A Caffe-style checker for lane-packed ops, in double: every input's gradient against
// central differences, and lane isolation (changing lane 0 changes nothing of lane 1).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace sgdlab::test {

// Element (o, t, i) of a lane-packed tensor sits at (o * T + t) * inner + i:
// activations are {B, T, F}, lane-leading parameters {1, T, per_lane}.
struct LaneLayout {
  int outer, T, inner;
  size_t size() const { return size_t(outer) * T * inner; }
  int lane_of(size_t index) const { return int((index / inner) % T); }
};

struct OpInput {
  std::string name;
  LaneLayout layout;
  std::vector<double> value;
};

using Tensors = std::vector<std::vector<double>>;

struct OpCase {
  std::string name;
  std::vector<OpInput> inputs;
  LaneLayout output;
  std::function<std::vector<double>(const Tensors&)> forward;
  // Gradients of sum(dy * forward(inputs)) for each input, in input order.
  std::function<Tensors(const Tensors&, const std::vector<double>&)> backward;
};

inline std::vector<double> random_vector(size_t n, std::mt19937_64& rng, double lo = -1,
                                         double hi = 1) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline Tensors values_of(const OpCase& op) {
  Tensors t;
  for (const auto& in : op.inputs) t.push_back(in.value);
  return t;
}

inline double weighted_sum(const std::vector<double>& y, const std::vector<double>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
  return s;
}

// Every element of every input, unless the input is large: then a strided sample.
inline void check_gradients(const OpCase& op, double eps = 1e-6, double tol = 1e-6) {
  std::mt19937_64 rng(7);
  const std::vector<double> r = random_vector(op.output.size(), rng);
  Tensors x = values_of(op);
  const Tensors analytic = op.backward(x, r);
  ASSERT_EQ(analytic.size(), x.size()) << op.name;
  for (size_t k = 0; k < x.size(); ++k) {
    ASSERT_EQ(analytic[k].size(), x[k].size()) << op.name << " " << op.inputs[k].name;
    const size_t step = std::max<size_t>(1, x[k].size() / 400);
    for (size_t i = 0; i < x[k].size(); i += step) {
      const double saved = x[k][i];
      x[k][i] = saved + eps;
      const double up = weighted_sum(op.forward(x), r);
      x[k][i] = saved - eps;
      const double down = weighted_sum(op.forward(x), r);
      x[k][i] = saved;
      const double numeric = (up - down) / (2 * eps);
      const double scale = std::max({1.0, std::abs(numeric), std::abs(analytic[k][i])});
      ASSERT_NEAR(analytic[k][i], numeric, tol * scale)
          << op.name << ": d/d " << op.inputs[k].name << "[" << i << "] (lane "
          << op.inputs[k].layout.lane_of(i) << ")";
    }
  }
}

// Perturbs every lane-0 element of every input; lane 1's outputs and gradients must
// not move at all.
inline void check_lane_isolation(const OpCase& op) {
  std::mt19937_64 rng(11);
  const std::vector<double> r = random_vector(op.output.size(), rng);
  const Tensors x = values_of(op);
  const std::vector<double> y = op.forward(x);
  const Tensors g = op.backward(x, r);
  Tensors x2 = x;
  for (size_t k = 0; k < x2.size(); ++k)
    for (size_t i = 0; i < x2[k].size(); ++i)
      if (op.inputs[k].layout.lane_of(i) == 0) x2[k][i] += 0.5 + 0.25 * double(i % 3);
  std::vector<double> r2 = r;
  for (size_t i = 0; i < r2.size(); ++i)
    if (op.output.lane_of(i) == 0) r2[i] *= -2.0;
  const std::vector<double> y2 = op.forward(x2);
  const Tensors g2 = op.backward(x2, r2);
  bool lane0_moved = false;
  for (size_t i = 0; i < y.size(); ++i) {
    if (op.output.lane_of(i) == 1) {
      ASSERT_EQ(y[i], y2[i]) << op.name << " output " << i;
    }
    if (op.output.lane_of(i) == 0 && y[i] != y2[i]) lane0_moved = true;
  }
  EXPECT_TRUE(lane0_moved) << op.name << ": the perturbation did not reach lane 0's output";
  for (size_t k = 0; k < g.size(); ++k)
    for (size_t i = 0; i < g[k].size(); ++i)
      if (op.inputs[k].layout.lane_of(i) == 1) {
        ASSERT_EQ(g[k][i], g2[k][i])
            << op.name << " grad of " << op.inputs[k].name << "[" << i << "]";
      }
}

}  // namespace sgdlab::test
