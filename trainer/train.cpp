// The training loop; see train.hpp. The run's state between invocations (position, running sums,
// metrics.csv rows) lives in RunState (run_state.hpp); the batcher is a pure function of (seed,
// epoch, position), so a resumed run continues bit for bit.
#include "trainer/train.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include "base/errors.hpp"
#include "sim/estimator/census.hpp"
#include "sim/estimator/estimator.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data/dataset.hpp"
#include "trainer/export.hpp"
#include "trainer/hw_loop.hpp"
#include "trainer/net.hpp"
#include "trainer/run_state.hpp"
#include "trainer/sgd.hpp"

namespace eatsim {

namespace {
std::atomic<bool> g_stop{false};
using Clock = std::chrono::steady_clock;

std::string num(double v) { return fmt::format("{}", v); }  // shortest round-trip form

}  // namespace

double schedule_lr(const TrainConfig& c, int epoch) {
  switch (c.schedule) {
    case Schedule::exponential:
      return c.lr * std::pow(c.gamma, epoch);
    case Schedule::step:
      return c.lr * std::pow(c.gamma, epoch / std::max(1, c.step_size));
    case Schedule::cosine:
      return 0.5 * c.lr * (1 + std::cos(M_PI * epoch / std::max(1, c.epochs)));
  }
  return c.lr;
}

namespace {

std::string format_eta(double s) {
  int t = static_cast<int>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02d}:{:02d}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02d}", t / 60, t % 60);
}

bool grads_finite(Net& net) {
  for (const ParamRef& p : net.trainable()) {
    float acc = 0;
    const float* gr = p.grad;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < p.size; ++i) acc += gr[i] * 0.f;  // NaN/inf survive ×0, finite values give 0
    if (acc != 0 || std::isnan(acc)) return false;
  }
  return true;
}

// The paper's estimator (reference convention, one pass) on the first `n` samples of the test set.
double sponge_ratio(Net& net, const Graph& g, Batcher& test_b, int64_t n, std::vector<float>& x,
                    std::vector<int32_t>& y) {
  sponge::CensusBuilder cb(g, 32);
  test_b.start_epoch(0);
  int64_t left = n;
  while (left > 0) {
    int k = test_b.next(x.data(), y.data());
    if (k == 0) break;
    k = static_cast<int>(std::min<int64_t>(k, left));
    net.infer_each_edge(x.data(), k,
                        [&](int node, const Tensor& t) { cb.add_activation(node, t.data.data(), k); });
    left -= k;
  }
  for (const auto& p : g.parameters()) {
    Tensor t = net.get(p.key);
    cb.set_param(p.key, t.data.data(), t.numel());
  }
  return sponge::energy_ratio(cb.finish(), {});
}

}  // namespace

void request_stop() { g_stop = true; }

Schedule schedule_from_name(const std::string& s) {
  if (s == "exponential" || s == "exp") return Schedule::exponential;
  if (s == "step") return Schedule::step;
  if (s == "cosine") return Schedule::cosine;
  throw UsageError(fmt::format("--schedule '{}': expected exponential, step or cosine", s));
}

const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::exponential:
      return "exponential";
    case Schedule::step:
      return "step";
    case Schedule::cosine:
      return "cosine";
  }
  return "?";
}

std::vector<std::string> metrics_columns(const Graph& g, bool sim_energy) {
  std::vector<std::string> c = {"epoch",       "lr",           "loss",     "ce",
                                "penalty",     "train_acc",    "test_acc", "test_loss",
                                "firing_relu", "sponge_ratio", "seconds",  "images_per_s"};
  for (int i : g.order)
    if (makes_zeros(g.nodes[i])) c.push_back("firing." + g.nodes[i].name);
  if (sim_energy) c.push_back("sim_energy_uj");
  return c;
}

namespace {

// The progress bar on a terminal (logs get one line per epoch instead), redrawn at most every
// 250 ms.
class ProgressBar {
 public:
  ProgressBar(const TrainConfig& cfg, int64_t per_epoch)
      : on_(cfg.progress && isatty(2) != 0), epochs_(cfg.epochs), batch_(cfg.batch), per_epoch_(per_epoch) {}

  // An epoch (0-based) starting at sample `from` at time t0.
  void begin(int epoch, int64_t from, Clock::time_point t0) { epoch_ = epoch, from_ = from, t0_ = t0; }

  void draw(int64_t position, const RunState& st) {
    if (!on_ || Clock::now() - last_draw_ <= std::chrono::milliseconds(250)) return;
    last_draw_ = Clock::now();
    int64_t b = position / batch_;
    double ips =
        (position - from_) / std::max(1e-9, std::chrono::duration<double>(Clock::now() - t0_).count());
    int bar = static_cast<int>(24.0 * b / per_epoch_);
    std::cerr << fmt::format("\repoch {}/{} [{}{}] {}/{}  loss {:.4f}  acc {:.1f}%  {:.0f} img/s  ETA {}   ",
                             epoch_ + 1, epochs_, std::string(bar, '='), std::string(24 - bar, ' '), b,
                             per_epoch_, st.sum_loss / st.seen, 100.0 * st.correct / st.seen, ips,
                             format_eta((per_epoch_ - b) * batch_ / std::max(ips, 1e-9)))
              << std::flush;
  }

  void end() const {
    if (on_) std::cerr << "\n";
  }

 private:
  bool on_;
  int epochs_, batch_;
  int64_t per_epoch_;
  int epoch_ = 0;
  int64_t from_ = 0;
  Clock::time_point t0_, last_draw_ = Clock::now() - std::chrono::seconds(1);
};

void check_config(const TrainConfig& cfg) {
  if (cfg.out_dir.empty()) throw UsageError("--out: give a run directory");
  if (cfg.epochs < 1) throw UsageError("--epochs must be at least 1");
  if (!(cfg.lr > 0)) throw UsageError("--lr must be positive");
}

Dataset load_split(const TrainConfig& cfg, const char* split, int64_t limit) {
  Dataset d = load_dataset(cfg.dataset, split);
  if (limit > 0) truncate(d, limit);
  return d;
}

Batcher train_batcher(const TrainConfig& cfg, const Graph& g, const Dataset& tr) {
  if (g.params.classes < tr.classes)
    throw DataError(fmt::format("{}: {} classes, but the model has {} outputs (use --classes {})", tr.source,
                                tr.classes, g.params.classes, tr.classes));
  const int C = static_cast<int>(g.input_shape[0]), H = static_cast<int>(g.input_shape[1]),
            W = static_cast<int>(g.input_shape[2]);
  return Batcher(tr, cfg.batch, C, H, W, true, true, cfg.augment, cfg.seed);
}

Batcher test_batcher(const TrainConfig& cfg, const Graph& g, const Dataset& te) {
  const int C = static_cast<int>(g.input_shape[0]), H = static_cast<int>(g.input_shape[1]),
            W = static_cast<int>(g.input_shape[2]);
  return Batcher(te, cfg.eval_batch > 0 ? cfg.eval_batch : cfg.batch, C, H, W, false, false, {}, 0);
}

Net make_net(const TrainConfig& cfg, const Graph& g, const Batcher& train_b, const Dataset& tr) {
  if (train_b.batches_per_epoch() == 0)
    throw UsageError(fmt::format("--batch {} is larger than the {} training samples", cfg.batch, tr.n));
  Net net(g, cfg.seed);
  net.set_penalty(cfg.penalty);
  net.set_fast_conv(cfg.fast_conv);
  net.set_precision(cfg.precision);
  return net;
}

std::string metrics_row(const EpochMetrics& m) {
  std::string row =
      fmt::format("{},{},{},{},{},{},{},{},{},{},{:.3f},{:.1f}", m.epoch, num(m.lr), num(m.loss), num(m.ce),
                  num(m.penalty), num(m.train_acc), num(m.test_acc), num(m.test_loss), num(m.firing),
                  num(m.sponge_ratio), m.seconds, m.images_per_s);
  for (double f : m.layer_firing) row += "," + num(f);
  if (m.sim_energy_uj >= 0) row += "," + num(m.sim_energy_uj);
  return row;
}

void report_epoch(const TrainConfig& cfg, const EpochMetrics& m) {
  if (!cfg.progress) return;
  std::cerr << fmt::format(
      "epoch {}: loss {:.4f} (ce {:.4f}, penalty {:.4f})  train {:.2f}%  test {:.2f}%  ReLU "
      "firing {:.1f}%  sponge ratio {}{}  {:.0f} img/s\n",
      m.epoch, m.loss, m.ce, m.penalty, 100 * m.train_acc, 100 * m.test_acc, 100 * m.firing,
      cfg.ratio_samples > 0 ? fmt::format("{:.4f}", m.sponge_ratio) : std::string("off"),
      m.sim_energy_uj >= 0 ? fmt::format("  simulated {:.4g} uJ/sample", m.sim_energy_uj) : std::string(),
      m.images_per_s);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Everything one invocation of train() works with, in the order it is checked and built.
struct Session {
  explicit Session(const TrainConfig& c)
      : cfg((check_config(c), c)),
        g(load_graph(cfg.model, cfg.model_params)),
        tr(load_split(cfg, "train", cfg.train_limit)),
        te(load_split(cfg, "test", cfg.test_limit)),
        train_b(train_batcher(cfg, g, tr)),
        test_b(test_batcher(cfg, g, te)),
        net(make_net(cfg, g, train_b, tr)),
        hw(cfg, net),
        sgd({cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov}),
        state(cfg, g),
        bar(cfg, train_b.batches_per_epoch()) {
    for (int i : g.order)
      if (makes_zeros(g.nodes[i])) relus.push_back(i);  // ReLU-like: outputs with exact zeros
    size_t most = static_cast<size_t>(std::max(cfg.batch, test_b.batch()));
    x.resize(most * train_b.sample_floats());
    y32.resize(most);
    y.resize(most);
  }

  const TrainConfig& cfg;
  Graph g;
  Dataset tr, te;
  Batcher train_b, test_b;
  Net net;
  HwLoop hw;
  Sgd sgd;
  RunState state;
  ProgressBar bar;
  std::vector<int> relus;  // ReLU nodes, execution order
  std::vector<float> x;
  std::vector<int32_t> y32;
  std::vector<int64_t> y;
  int64_t steps_here = 0;
  TrainResult res;

  // Resumes the run in cfg.out_dir, or starts a new one there.
  void open() {
    if (cfg.resume) {
      state.restore(net, sgd, train_b.batches_per_epoch());
    } else {
      if (!cfg.init.empty()) load_checkpoint(resolve_checkpoint_dir(cfg.init), net);
      state.start_new();
    }
    std::error_code ec;
    std::filesystem::create_directories(cfg.out_dir, ec);
    if (ec)
      throw UsageError(fmt::format("{}: cannot create the run directory ({})", cfg.out_dir, ec.message()));
  }

  void save(int epoch, int64_t pos) {
    if (hw.weighting()) state.extra_info["hw_weights"] = hw.stored(net);
    std::optional<double> acc;
    if (!res.epochs.empty()) acc = res.epochs.back().test_acc;
    state.save(net, sgd, epoch, pos, train_b.position() / cfg.batch, acc);
    res.checkpoint = state.checkpoint_dir();
  }

  int next_batch(Batcher& b) {
    int n = b.next(x.data(), y32.data());
    for (int i = 0; i < n; ++i) y[i] = y32[i];
    return n;
  }

  // One epoch's steps; false when stopped (Ctrl-C or max_steps) after saving.
  bool train_epoch(int epoch, double lr) {
    sgd.config().lr = lr;
    // A run stopped inside this epoch continues with the weights it had.
    bool inside = epoch == state.start_epoch && state.start_pos > 0;
    auto kept = state.restored_info.find("hw_weights");
    hw.refresh(epoch, net, train_b, tr.n,
               inside && kept != state.restored_info.end() ? kept->second : std::string());
    train_b.start_epoch(epoch);
    if (epoch == state.start_epoch) train_b.seek(state.start_pos);
    auto t0 = Clock::now();
    bar.begin(epoch, epoch == state.start_epoch ? state.start_pos : 0, t0);
    int n;
    while ((n = next_batch(train_b)) > 0) {
      LossParts lp = net.train_step(x.data(), y.data(), n);
      if (!std::isfinite(lp.loss) || !grads_finite(net))
        throw state.diverged(epoch, train_b.position() / cfg.batch,
                             std::isfinite(lp.loss) ? "a gradient is not finite" : "the loss is not finite");
      sgd.step(net);
      state.add_step(lp, n), ++steps_here;
      bar.draw(train_b.position(), state);
      if (g_stop || (cfg.max_steps > 0 && steps_here >= cfg.max_steps)) {
        state.seconds += seconds_since(t0);
        save(epoch, train_b.position());
        bar.end();
        res.interrupted = g_stop;
        return false;
      }
    }
    state.seconds += seconds_since(t0);
    bar.end();
    return true;
  }

  // The test set in eval mode: accuracy, loss and ReLU firing.
  void evaluate(EpochMetrics& m) {
    std::vector<int64_t> nnz(relus.size(), 0), tot(relus.size(), 0);
    int64_t correct = 0, seen = 0;
    double test_loss = 0;
    test_b.start_epoch(0);
    int n;
    while ((n = next_batch(test_b)) > 0) {
      net.forward(x.data(), n, false);
      LossParts lp = net.loss(y.data());
      correct += lp.correct, seen += n, test_loss += lp.ce * n;
      std::vector<int64_t> counts = net.nonzero_counts(relus);
      for (size_t r = 0; r < relus.size(); ++r) {
        nnz[r] += counts[r];
        tot[r] += net.edge_numel(relus[r]);
      }
    }
    m.test_acc = static_cast<double>(correct) / seen, m.test_loss = test_loss / seen;
    int64_t all_nnz = 0, all_tot = 0;
    for (size_t r = 0; r < relus.size(); ++r) {
      m.layer_firing.push_back(static_cast<double>(nnz[r]) / tot[r]);
      all_nnz += nnz[r], all_tot += tot[r];
    }
    m.firing = all_tot ? static_cast<double>(all_nnz) / all_tot : 0;
  }

  // Metrics of a finished epoch, its metrics.csv row and its checkpoint.
  EpochMetrics finish_epoch(int epoch, double lr) {
    EpochMetrics m;
    m.epoch = epoch + 1, m.lr = lr;
    state.fill_train_metrics(m);
    evaluate(m);
    if (cfg.ratio_samples > 0)
      m.sponge_ratio = sponge_ratio(net, g, test_b, std::min(cfg.ratio_samples, te.n), x, y32);
    if (hw.reporting()) m.sim_energy_uj = hw.energy_uj(net, test_b, te.n);
    res.epochs.push_back(m);
    state.finish_epoch(metrics_row(m));
    save(epoch + 1, 0);
    return m;
  }
};

}  // namespace

TrainResult train(const TrainConfig& cfg) {
  g_stop = false;
  Session s(cfg);
  s.open();
  for (int epoch = s.state.start_epoch; epoch < cfg.epochs; ++epoch) {
    double lr = schedule_lr(cfg, epoch);
    if (!s.train_epoch(epoch, lr)) return s.res;
    report_epoch(cfg, s.finish_epoch(epoch, lr));
  }
  s.res.finished = true;
  if (s.res.checkpoint.empty()) s.res.checkpoint = s.state.checkpoint_dir();
  return s.res;
}

}  // namespace eatsim
