// What a training step on a GPU needs beyond tch, for src/shim/device.rs, all through
// libtorch's device-generic C++ API (no CUDA header, so the shim builds against any libtorch):
//
// * pinned host tensors, allocated through libtorch's caching host allocator, which the loader
//   fills and the step uploads without the host waiting (`to(cuda, non_blocking=True)`);
// * a host copy of a device value started now and read later (`HostCopy`): the copy and an
//   event are queued on the current stream, so reading it a step later waits for nothing
//   that the GPU has not long finished;
// * cuDNN's deterministic switch (tch has the benchmark switch only);
// * a count of libtorch's synchronising CUDA calls (`torch.cuda.set_sync_debug_mode`), for
//   the GPU benchmark.

#include "shim.h"

#include <ATen/Context.h>
#include <c10/core/Event.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <dlfcn.h>

#include <atomic>
#include <optional>

using lrplan::guard;

struct LrplanHostCopy {
  at::Tensor host;
  std::optional<c10::Event> event;
};

namespace {

// Counts the warnings of libtorch's sync debug mode and passes every other warning on.
class SyncCounter : public c10::WarningHandler {
 public:
  explicit SyncCounter(c10::WarningHandler* next) : next_(next) {}
  void process(const c10::Warning& w) override {
    if (w.msg().find("called a synchronizing CUDA operation") != std::string::npos) {
      count.fetch_add(1, std::memory_order_relaxed);
    } else if (next_ != nullptr) {
      next_->process(w);
    }
  }
  std::atomic<uint64_t> count{0};

 private:
  c10::WarningHandler* next_;
};

SyncCounter* sync_counter = nullptr;

}  // namespace

extern "C" {

// A zero-filled pinned host tensor of `dtype` (at::ScalarType) and shape `sizes` (zeroed so
// that Rust may view it as a slice). Needs a CUDA libtorch with a usable device.
char* lrplan_empty_pinned(const int64_t* sizes, size_t ndim, int8_t dtype, torch::Tensor** out) {
  *out = nullptr;
  return guard([&] {
    auto options = at::TensorOptions()
                       .dtype(static_cast<at::ScalarType>(dtype))
                       .pinned_memory(true);
    auto t = at::empty(at::IntArrayRef(sizes, ndim), options);
    t.zero_();
    *out = new torch::Tensor(t);
  });
}

// Starts copying `t` to the host: on CUDA a non-blocking copy into pinned memory followed by
// an event on the current stream; on the CPU the value itself.
char* lrplan_host_copy_start(const torch::Tensor* t, LrplanHostCopy** out) {
  *out = nullptr;
  return guard([&] {
    auto h = std::make_unique<LrplanHostCopy>();
    if (t->is_cuda()) {
      h->host = t->to(at::kCPU, /*non_blocking=*/true);
      auto type = t->device().type();
      h->event.emplace(type);
      h->event->record(c10::impl::getDeviceGuardImpl(type)->getStream(t->device()));
    } else {
      h->host = *t;
    }
    *out = h.release();
  });
}

// Waits for the copy (a no-op when the GPU is past it) and hands the host tensor over.
char* lrplan_host_copy_finish(LrplanHostCopy* h, torch::Tensor** out) {
  *out = nullptr;
  return guard([&] {
    if (h->event) {
      h->event->synchronize();
    }
    *out = new torch::Tensor(h->host);
  });
}

void lrplan_host_copy_free(LrplanHostCopy* h) { delete h; }

// cuDNN's deterministic algorithms only (torch.backends.cudnn.deterministic).
void lrplan_set_cudnn_deterministic(bool on) { at::globalContext().setDeterministicCuDNN(on); }

// Turns on libtorch's sync debug mode at "warn" and counts its warnings from now on (on the
// calling thread's warning handler). The mode's switch is a function-local static of
// libc10_cuda (c10::cuda::warning_state(), defined in a CUDA header this shim does not
// include), found by its exported name; its one member is the mode, 1 = warn. Returns
// whether it was found (not in a CPU-only libtorch).
bool lrplan_sync_count_start() {
  void* state = dlsym(RTLD_DEFAULT, "_ZZN3c104cuda13warning_stateEvE14warning_state_");
  if (state == nullptr) {
    return false;
  }
  *static_cast<int*>(state) = 1;
  if (sync_counter == nullptr) {
    sync_counter = new SyncCounter(c10::WarningUtils::get_warning_handler());
  }
  c10::WarningUtils::set_warning_handler(sync_counter);
  return true;
}

// Synchronising CUDA calls counted since lrplan_sync_count_start.
uint64_t lrplan_sync_count() {
  return sync_counter == nullptr ? 0 : sync_counter->count.load(std::memory_order_relaxed);
}

}  // extern "C"
