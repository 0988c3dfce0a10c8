#pragma once
// One parameter's SGD step, PyTorch's torch.optim.SGD: with weight decay coupled into
// the gradient (g += wd * p, applied to weights, not biases), momentum v = mu * v + g,
// and p -= lr * v, or with Nesterov p -= lr * (g + mu * v). One body for both backends.
// With no decay and no Nesterov it is exactly the plain momentum step.
#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

template <class S>
SGDLAB_HD void sgd_update(S& p, S& v, S g, S lr, S mu, S wd, bool nesterov) {
  if (wd != S(0)) g += wd * p;
  v = mu * v + g;
  // Two statements rather than a select: the plain step keeps exactly the expression
  // (and the compiler's fused multiply-adds) it always had.
  if (nesterov)
    p -= lr * (g + mu * v);
  else
    p -= lr * v;
}

}  // namespace sgdlab
