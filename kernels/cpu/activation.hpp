#pragma once
// ReLU, sigmoid and tanh; the backward pass is written in terms of the forward output.
#include <cmath>
#include <cstddef>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void activation_forward(Activation a, size_t n, const S* x, S* y) {
  switch (a) {
    case Activation::Relu:
      for (size_t i = 0; i < n; ++i) y[i] = x[i] > S(0) ? x[i] : S(0);
      break;
    case Activation::Sigmoid:
      for (size_t i = 0; i < n; ++i) y[i] = S(1) / (S(1) + std::exp(-x[i]));
      break;
    case Activation::Tanh:
      for (size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
  }
}

template <class S>
void activation_backward(Activation a, size_t n, const S* y, const S* dy, S* dx) {
  switch (a) {
    case Activation::Relu:
      for (size_t i = 0; i < n; ++i) dx[i] = y[i] > S(0) ? dy[i] : S(0);
      break;
    case Activation::Sigmoid:
      for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (S(1) - y[i]);
      break;
    case Activation::Tanh:
      for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * (S(1) - y[i] * y[i]);
      break;
  }
}

}  // namespace sgdlab::cpu
