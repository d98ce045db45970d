// Data-parallel training on PyTorch's c10d for src/shim/distributed.rs: the TCPStore
// rendezvous, a ProcessGroup (gloo for CPU tensors, NCCL for CUDA ones when the shim was
// compiled with LRPLAN_NCCL), the collectives the trainer uses, and DDP's gradient Reducer.
//
// Nothing here is our own communication code: the process group and the Reducer (bucketing,
// overlap of allreduce with backward, bucket rebuilding after the first step) are the ones
// torch.nn.parallel.DistributedDataParallel drives from Python; this file drives them from
// Rust the way distributed_c10d.py and DDP's __init__/forward do.
//
// Build notes (build.rs): the c10d headers declare ProcessGroupGloo only with USE_C10D_GLOO
// and ProcessGroupNCCL only with USE_C10D_NCCL. The gloo headers come from Debian's
// libgloo-dev (the torch wheel ships none); only torch's own gloo, inside libtorch_cpu, is
// linked. This file calls no gloo function itself, and it is compiled with hidden
// visibility, so no inline code instantiated from those headers can stand in for torch's.

#include "shim.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#ifdef LRPLAN_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <vector>

struct LrplanStore {
  c10::intrusive_ptr<c10d::Store> store;
};

struct LrplanGroup {
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

struct LrplanReducer {
  std::unique_ptr<c10d::Reducer> reducer;
};

namespace {

using Millis = std::chrono::milliseconds;

// The tensors behind an array of tch pointers.
std::vector<at::Tensor> tensors(torch::Tensor** ts, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(*ts[i]);
  }
  return out;
}

// Gloo's transport devices as torch.distributed picks them: one per interface named in
// GLOO_SOCKET_IFNAME (comma-separated), else the address this machine's hostname resolves to.
std::vector<std::shared_ptr<gloo::transport::Device>> gloo_devices() {
  std::vector<std::shared_ptr<gloo::transport::Device>> devices;
  const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifnames != nullptr && *ifnames != '\0') {
    std::stringstream list(ifnames);
    std::string name;
    while (std::getline(list, name, ',')) {
      devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    }
  } else {
    devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return devices;
}

c10::intrusive_ptr<c10d::Backend> gloo_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int world, Millis timeout) {
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  opts->devices = gloo_devices();
  // torch.distributed's choice: two worker threads per device.
  opts->threads = static_cast<int>(opts->devices.size()) * 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
}

#ifdef LRPLAN_NCCL
c10::intrusive_ptr<c10d::Backend> nccl_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int world, Millis timeout,
    int device) {
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
}
#endif

// Sums a bucket over the ranks, without DDP's division by the world size: the division of
// torch's own AllReduceCommHook left out, as its internal _AllReduceBySumCommHook does (which
// libtorch does not export).
class SumHook : public c10d::CppCommHookInterface<c10::intrusive_ptr<c10d::ProcessGroup>> {
 public:
  using CppCommHookInterface::CppCommHookInterface;

  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket& bucket) override {
    std::vector<at::Tensor> buffer{bucket.getBufferRef()};
    return state_->allreduce(buffer)->getFuture();
  }
};

}  // namespace

extern "C" {

bool lrplan_dist_nccl_compiled() {
#ifdef LRPLAN_NCCL
  return true;
#else
  return false;
#endif
}

// A client of the TCPStore at host:port; `server` also starts the store there (rank 0 when no
// launcher hosts it). Clients retry connecting until `timeout_ms`; every blocking get/wait on
// the store gives up after it too.
char* lrplan_store_connect(const char* host, uint16_t port, int world, bool server,
                           int64_t timeout_ms, LrplanStore** out) {
  return lrplan::guard([&] {
    c10d::TCPStoreOptions opts;
    opts.port = port;
    opts.isServer = server;
    opts.numWorkers = world;
    // The trainer's own start-up agreement waits for every rank, naming the missing ones.
    opts.waitWorkers = false;
    opts.multiTenant = true;
    opts.timeout = Millis(timeout_ms);
    auto store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    *out = new LrplanStore{store};
  });
}

// A view of `s` whose keys all start with `prefix` + "/", as c10d::PrefixStore (and
// torch.distributed) name them.
char* lrplan_store_prefixed(LrplanStore* s, const char* prefix, LrplanStore** out) {
  return lrplan::guard([&] {
    *out = new LrplanStore{c10::make_intrusive<c10d::PrefixStore>(prefix, s->store)};
  });
}

// The same store over a connection of its own (for another thread).
char* lrplan_store_clone(LrplanStore* s, LrplanStore** out) {
  return lrplan::guard([&] { *out = new LrplanStore{s->store->clone()}; });
}

void lrplan_store_free(LrplanStore* s) { delete s; }

char* lrplan_store_set(LrplanStore* s, const char* key, const uint8_t* data, size_t len) {
  return lrplan::guard(
      [&] { s->store->set(key, std::vector<uint8_t>(data, data + len)); });
}

// Waits (up to the store's timeout) for `key` and returns its value, malloc'ed, for Rust to
// release with lrplan_free_string.
char* lrplan_store_get(LrplanStore* s, const char* key, uint8_t** data, size_t* len) {
  return lrplan::guard([&] {
    auto value = s->store->get(key);
    *len = value.size();
    *data = static_cast<uint8_t*>(std::malloc(value.size() + 1));
    if (*data == nullptr) {
      throw std::bad_alloc();
    }
    std::memcpy(*data, value.data(), value.size());
  });
}

char* lrplan_store_add(LrplanStore* s, const char* key, int64_t delta, int64_t* out) {
  return lrplan::guard([&] { *out = s->store->add(key, delta); });
}

// Whether `key` exists, without waiting.
char* lrplan_store_check(LrplanStore* s, const char* key, bool* out) {
  return lrplan::guard([&] { *out = s->store->check({key}); });
}

// The process group over `store` as torch.distributed.init_process_group makes the default
// group: the store seen through the prefixes "default_pg" and "0/" (the group's name), the
// backend's through "<device>/" more. backend 0: gloo (CPU tensors); 1: NCCL on CUDA device
// `device`. `timeout_ms` bounds every collective.
char* lrplan_group_new(LrplanStore* s, int rank, int world, int backend, int device,
                       int64_t timeout_ms, LrplanGroup** out) {
  return lrplan::guard([&] {
    auto timeout = Millis(timeout_ms);
    auto group_store = c10::make_intrusive<c10d::PrefixStore>(
        "0/", c10::make_intrusive<c10d::PrefixStore>("default_pg", s->store));
    auto pg = c10::make_intrusive<c10d::ProcessGroup>(group_store, rank, world);
    if (backend == 0) {
      auto store = c10::make_intrusive<c10d::PrefixStore>("cpu/", group_store);
      auto gloo = gloo_backend(store, rank, world, timeout);
      pg->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
      pg->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    } else {
#ifdef LRPLAN_NCCL
      auto store = c10::make_intrusive<c10d::PrefixStore>("cuda/", group_store);
      auto nccl = nccl_backend(store, rank, world, timeout, device);
      pg->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
      pg->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
#else
      throw std::runtime_error(
          "this trainer was built against a libtorch without CUDA, so it has no NCCL");
#endif
    }
    pg->setGroupName("0");
    *out = new LrplanGroup{pg};
  });
}

void lrplan_group_free(LrplanGroup* g) { delete g; }

// Rank 0's values into `ts` on every rank, in buckets (as DDP syncs a model at start).
char* lrplan_group_broadcast(LrplanGroup* g, torch::Tensor** ts, size_t n) {
  return lrplan::guard([&] {
    torch::NoGradGuard no_grad;
    // DDP's buffer size for its start-up broadcast (_sync_module_states: 250 MB).
    c10d::broadcast_coalesced(g->pg, tensors(ts, n), 250 * 1024 * 1024, 0);
  });
}

// The sum over every rank, in place.
char* lrplan_group_allreduce_sum(LrplanGroup* g, torch::Tensor* t) {
  return lrplan::guard([&] {
    std::vector<at::Tensor> one{*t};
    g->pg->allreduce(one)->wait();
  });
}

// Refuses a model whose parameters differ from rank 0's in number, shape or dtype (DDP's
// check at construction).
char* lrplan_group_verify(LrplanGroup* g, torch::Tensor** ts, size_t n) {
  return lrplan::guard(
      [&] { c10d::verify_params_across_processes(g->pg, tensors(ts, n), std::nullopt); });
}

// DDP's Reducer over `params` (each requiring grad, none twice), set up as
// DistributedDataParallel sets it up with its defaults (find_unused_parameters=False): one
// bucket for the first step, rebuilt from the order gradients arrive in after it, with a 1 MB
// first bucket and 25 MB ones after. Its comm hook sums without dividing by the world size:
// each rank's loss is already its share of the global batch's mean (src/model/ddp.rs).
char* lrplan_reducer_new(LrplanGroup* g, torch::Tensor** ps, size_t n, LrplanReducer** out) {
  return lrplan::guard([&] {
    auto params = tensors(ps, n);
    std::vector<bool> sparse(n, false);
    auto assigned = c10d::compute_bucket_assignment_by_size(
        params, {std::numeric_limits<size_t>::max()}, sparse);
    auto buckets = std::get<0>(assigned);
    // DDP reverses them: gradients arrive roughly in reverse order of the parameters.
    std::reverse(buckets.begin(), buckets.end());
    auto reducer = std::make_unique<c10d::Reducer>(
        params, buckets, g->pg, sparse, c10d::kDefaultBucketBytesCap,
        /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
        std::unordered_map<size_t, std::string>{}, c10d::kDefaultFirstBucketBytes,
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
        std::vector<int64_t>{});
    reducer->register_comm_hook(std::make_unique<SumHook>(g->pg));
    *out = new LrplanReducer{std::move(reducer)};
  });
}

void lrplan_reducer_free(LrplanReducer* r) { delete r; }

// Before a training forward, as DDP's _pre_forward: rebuilds the buckets once, after the
// first step.
char* lrplan_reducer_forward(LrplanReducer* r) {
  return lrplan::guard([&] {
    r->reducer->prepare_for_forward();
    r->reducer->rebuild_buckets();
  });
}

// The training backward: every gradient in `ps` cleared (zero_grad(set_to_none=True)), then
// `loss.backward()` with the Reducer expecting it; when it returns, each `.grad` holds the
// sum over the ranks. `grads` receives one new tensor per parameter, undefined where the loss
// did not reach it.
char* lrplan_reducer_backward(LrplanReducer* r, torch::Tensor* loss, torch::Tensor** ps,
                              size_t n, torch::Tensor** grads) {
  return lrplan::guard([&] {
    for (size_t i = 0; i < n; ++i) {
      ps[i]->mutable_grad().reset();
    }
    r->reducer->prepare_for_backward({});
    torch::autograd::backward({*loss});
    for (size_t i = 0; i < n; ++i) {
      grads[i] = new torch::Tensor(ps[i]->grad());
    }
  });
}

}  // extern "C"
