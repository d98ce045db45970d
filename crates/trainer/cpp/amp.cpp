// Mixed precision and memory formats for src/shim/amp.rs: autocast for the CPU and CUDA device
// types with either low-precision dtype, GradScaler's unscale-and-check, and channels-last.
//
// tch's `autocast` sets only the legacy CUDA switch with its default dtype (fp16); what
// torch.autocast does is below, step for step (`__enter__` / `__exit__` in
// torch/amp/autocast_mode.py): the previous state is handed back to Rust, which restores it.
// Autocast's state is thread-local, as in PyTorch.

#include "shim.h"

#include <ATen/autocast_mode.h>

#include <vector>

using lrplan::guard;

namespace {

at::DeviceType device_type(int cuda) { return cuda ? at::kCUDA : at::kCPU; }

}  // namespace

extern "C" {

// What autocast_enter found, for autocast_exit to restore.
struct LrplanAutocastState {
  bool enabled;
  int8_t dtype;  // at::ScalarType
  bool cache_enabled;
};

// torch.autocast(device_type, dtype).__enter__(): enables autocast for the device type with
// `dtype` (at::ScalarType: 5 Half, 15 BFloat16), one nesting level deeper.
char* lrplan_autocast_enter(int cuda, int8_t dtype, LrplanAutocastState* prev) {
  return guard([&] {
    auto type = device_type(cuda);
    prev->cache_enabled = at::autocast::is_autocast_cache_enabled();
    prev->enabled = at::autocast::is_autocast_enabled(type);
    prev->dtype = static_cast<int8_t>(at::autocast::get_autocast_dtype(type));
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, static_cast<at::ScalarType>(dtype));
    at::autocast::increment_nesting();
    at::autocast::set_autocast_cache_enabled(true);
  });
}

// __exit__: the outermost exit drops the cache of casted weights; the state before enter
// comes back.
char* lrplan_autocast_exit(int cuda, const LrplanAutocastState* prev) {
  return guard([&] {
    auto type = device_type(cuda);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(type, prev->enabled);
    at::autocast::set_autocast_dtype(type, static_cast<at::ScalarType>(prev->dtype));
    at::autocast::set_autocast_cache_enabled(prev->cache_enabled);
  });
}

// Whether autocast is on for the device type (for tests).
bool lrplan_autocast_enabled(int cuda) {
  return at::autocast::is_autocast_enabled(device_type(cuda));
}

// GradScaler.unscale_: grads[i] *= inv_scale, and found_inf = 1 where any element of any
// gradient is inf or NaN (left as is otherwise). Runs on the device, without a host wait.
char* lrplan_amp_unscale_(const torch::Tensor* const* grads, size_t n, torch::Tensor* found_inf,
                          const torch::Tensor* inv_scale) {
  return guard([&] {
    std::vector<at::Tensor> g;
    g.reserve(n);
    for (size_t i = 0; i < n; ++i) g.push_back(*grads[i]);
    at::_amp_foreach_non_finite_check_and_unscale_(g, *found_inf, *inv_scale);
  });
}

// `t.contiguous(at::MemoryFormat::ChannelsLast)` as a new tensor (a batch of images).
char* lrplan_channels_last(const torch::Tensor* t, torch::Tensor** out) {
  return guard([&] { *out = new torch::Tensor(t->contiguous(at::MemoryFormat::ChannelsLast)); });
}

// A model's 4-d tensor moved to channels-last in place, as `module.to(memory_format=...)`
// does it: `set_data` swaps the storage under the same TensorImpl, so every handle to the
// tensor (the module's, the trainer's registry) sees the new layout.
char* lrplan_set_channels_last(torch::Tensor* t) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    t->set_data(t->contiguous(at::MemoryFormat::ChannelsLast));
  });
}

}  // extern "C"
