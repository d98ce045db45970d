// The optimizer's arithmetic over lists of tensors, for src/shim/foreach.rs.
//
// tch 0.24 binds no tensor-list op (no `_foreach_*`) and drops the Scalar arguments `alpha` and
// `value` of `add_`, `addcmul_` and `addcdiv_`, which torch.optim passes. Each function here
// takes the lists (borrowed tch tensors, all of one length `n`) and its scalars as doubles, as
// Python floats reach ATen, and runs in one of two ways (`foreach`):
//
// * true: torch's `_foreach_*` op, what torch.optim's foreach path calls: on CUDA one
//   multi-tensor kernel per op for a whole list instead of one kernel per tensor;
// * false: the single-tensor op once per element, in list order: torch.optim's foreach=False
//   path, op for op. An empty list takes this way too: torch's `_foreach_*` ops refuse one
//   (torch.optim never passes one: it skips a group without gradients, and its lists of new
//   momentum buffers are built in a loop).
//
// On CPU ATen's `_foreach_*` ops run the single-tensor op per element, so both ways give the
// same bits there (tests/library.rs holds them to each other and to torch.optim).

#include "shim.h"

#include <vector>

using lrplan::guard;

namespace {

using Tensors = std::vector<at::Tensor>;

// Borrowed pointers → a list of tensor handles (sharing the tensors, not copying data).
Tensors list(const torch::Tensor* const* ts, size_t n) {
  Tensors out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(*ts[i]);
  }
  return out;
}

std::vector<at::Scalar> scalars(const double* xs, size_t n) {
  return std::vector<at::Scalar>(xs, xs + n);
}

// New tensors for Rust to own (see shim.h).
void hand_over(const Tensors& ts, torch::Tensor** out) {
  for (size_t i = 0; i < ts.size(); ++i) {
    out[i] = new torch::Tensor(ts[i]);
  }
}

}  // namespace

extern "C" {

// self[i] += alpha * other[i]  (torch: add_(other, alpha=alpha)).
char* lrplan_fe_add_list_(const torch::Tensor* const* self, const torch::Tensor* const* other,
                          size_t n, double alpha, bool foreach) {
  return guard([&] {
    auto a = list(self, n), b = list(other, n);
    if (foreach && n > 0) {
      at::_foreach_add_(a, b, alpha);
    } else {
      for (size_t i = 0; i < n; ++i) a[i].add_(b[i], alpha);
    }
  });
}

// self[i] += s.
char* lrplan_fe_add_scalar_(const torch::Tensor* const* self, size_t n, double s, bool foreach) {
  return guard([&] {
    auto a = list(self, n);
    if (foreach && n > 0) {
      at::_foreach_add_(a, at::Scalar(s));
    } else {
      for (auto& t : a) t.add_(s);
    }
  });
}

// self[i] *= s.
char* lrplan_fe_mul_scalar_(const torch::Tensor* const* self, size_t n, double s, bool foreach) {
  return guard([&] {
    auto a = list(self, n);
    if (foreach && n > 0) {
      at::_foreach_mul_(a, at::Scalar(s));
    } else {
      for (auto& t : a) t.mul_(s);
    }
  });
}

// self[i] /= s[i].
char* lrplan_fe_div_scalars_(const torch::Tensor* const* self, size_t n, const double* s,
                             bool foreach) {
  return guard([&] {
    auto a = list(self, n);
    if (foreach && n > 0) {
      at::_foreach_div_(a, scalars(s, n));
    } else {
      for (size_t i = 0; i < n; ++i) a[i].div_(s[i]);
    }
  });
}

// self[i].lerp_(end[i], weight).
char* lrplan_fe_lerp_scalar_(const torch::Tensor* const* self, const torch::Tensor* const* end,
                             size_t n, double weight, bool foreach) {
  return guard([&] {
    auto a = list(self, n), b = list(end, n);
    if (foreach && n > 0) {
      at::_foreach_lerp_(a, b, at::Scalar(weight));
    } else {
      for (size_t i = 0; i < n; ++i) a[i].lerp_(b[i], weight);
    }
  });
}

// self[i] += value * t1[i] * t2[i]  (torch: addcmul_(t1, t2, value=value)).
char* lrplan_fe_addcmul_scalar_(const torch::Tensor* const* self, const torch::Tensor* const* t1,
                                const torch::Tensor* const* t2, size_t n, double value,
                                bool foreach) {
  return guard([&] {
    auto a = list(self, n), b = list(t1, n), c = list(t2, n);
    if (foreach && n > 0) {
      at::_foreach_addcmul_(a, b, c, at::Scalar(value));
    } else {
      for (size_t i = 0; i < n; ++i) a[i].addcmul_(b[i], c[i], value);
    }
  });
}

// self[i] += s[i] * t1[i] / t2[i]  (torch: addcdiv_(t1, t2, value=s[i])).
char* lrplan_fe_addcdiv_scalars_(const torch::Tensor* const* self,
                                 const torch::Tensor* const* t1, const torch::Tensor* const* t2,
                                 size_t n, const double* s, bool foreach) {
  return guard([&] {
    auto a = list(self, n), b = list(t1, n), c = list(t2, n);
    if (foreach && n > 0) {
      at::_foreach_addcdiv_(a, b, c, scalars(s, n));
    } else {
      for (size_t i = 0; i < n; ++i) a[i].addcdiv_(b[i], c[i], s[i]);
    }
  });
}

// out[i] = sqrt(self[i]), new tensors.
char* lrplan_fe_sqrt(const torch::Tensor* const* self, size_t n, bool foreach,
                     torch::Tensor** out) {
  return guard([&] {
    auto a = list(self, n);
    Tensors r;
    if (foreach && n > 0) {
      r = at::_foreach_sqrt(a);
    } else {
      for (auto& t : a) r.push_back(t.sqrt());
    }
    hand_over(r, out);
  });
}

// out[i] = self[i].detach().clone(): the same values in the same memory format (torch.optim
// starts a momentum buffer so; no `_foreach_` op exists for it, torch loops too).
char* lrplan_fe_clone(const torch::Tensor* const* self, size_t n, torch::Tensor** out) {
  return guard([&] {
    Tensors r;
    for (auto& t : list(self, n)) r.push_back(t.detach().clone());
    hand_over(r, out);
  });
}

}  // extern "C"
