// Process bodies of the clocked model's modules: see modules.hpp.
#include "sim/systemc/modules.hpp"

#include <stdexcept>
#include <string>

namespace eatsim::sysc {

std::ostream& operator<<(std::ostream& o, const RowStart& m) { return o << "RowStart(" << m.engine << ")"; }
std::ostream& operator<<(std::ostream& o, const PpuJob& m) { return o << "PpuJob(" << m.cycles << ")"; }
std::ostream& operator<<(std::ostream& o, const PpuRowJob& m) {
  return o << "PpuRowJob(" << m.read_bytes << " B in, " << m.cycles << " cycles, " << m.write_bytes
           << " B out)";
}
std::ostream& operator<<(std::ostream& o, const FrontEndActivity& m) {
  return o << "FrontEnd@" << m.cycle << "(push " << m.push << ", pop " << m.pop << ")";
}
std::ostream& operator<<(std::ostream& o, const ArrayEnd& m) { return o << "ArrayEnd@" << m.cycle; }
std::ostream& operator<<(std::ostream& o, const RowEnd& m) { return o << "RowEnd@" << m.cycle; }
std::ostream& operator<<(std::ostream& o, const PpuDone& m) {
  return o << "PpuDone(" << m.tail << ", " << m.stall << ")";
}

int64_t clock_index() {
  return static_cast<int64_t>(sc_core::sc_time_stamp().value() / sc_core::sc_time(1, sc_core::SC_NS).value());
}

namespace {
template <class T>
void put(sc_core::sc_fifo_out<T>& p, const T& v) {
  // Depths are sized at wiring for the most a producer writes per edge; a full channel is a bug.
  if (!p.nb_write(v)) throw std::logic_error(std::string("clocked model: channel full at ") + p.name());
}
void notify(const Observer* o, const WireEvent& e) {
  if (o && *o) (*o)(e);
}
}  // namespace

// Rising edge k. Pops first (answers from the buffers and the DMA, in buffer order then writes),
// then steps the engine one clock, then pushes the transfers that step issued. Edge base_ (setup)
// only takes the row and sends its first reads; edge base_ + 1 + t processes engine cycle t.
void PeArray::on_rising() {
  MemResponse r;
  for (auto& in : data_in)
    while (in.nb_read(r)) take(r);
  while (write_done.nb_read(r)) take(r);
  if (!e_) {
    RowStart s;
    cycle_kind.write(kIdle);
    if (!start.nb_read(s)) return;
    e_ = s.engine, base_ = clock_index(), outstanding_ = 0, ended_ = false;
    flush();
  } else if (!e_->done()) {
    const sim::Counters before = e_->counters();
    e_->step();
    const sim::Counters& c = e_->counters();
    cycle_kind.write(c.compute_cycles() > before.compute_cycles() ? kCompute : kOther);
    FrontEndActivity fe{clock_index(),
                        c.fe_fifo_push - before.fe_fifo_push,
                        c.fe_fifo_pop - before.fe_fifo_pop,
                        c.fe_reader_stall - before.fe_reader_stall,
                        c.fe_port_wait - before.fe_port_wait,
                        c.fe_feed_wait - before.fe_feed_wait};
    if (fe.any()) put(front_end, fe);
    const int64_t folds = before.folds;
    for (int64_t f = folds; f < c.folds; ++f)
      notify(observer, WireEvent{WireEvent::fold_start, clock_index(), {}, {}, f});
    flush();
  } else {
    cycle_kind.write(kIdle);
  }
  if (e_->done() && !ended_) put(array_end, ArrayEnd{clock_index()}), ended_ = true;
  // Without DRAM stalls (SCALE-Sim's model) the engine may finish with transfers in flight: the
  // row ends once they are answered.
  if (e_->done() && outstanding_ == 0) {
    put(row_end, RowEnd{clock_index()});
    notify(observer, WireEvent{WireEvent::row_end, clock_index(), {}, {}, 0});
    e_ = nullptr;
  }
}

void PeArray::flush() {
  for (MemRequest q : port->outbox) {
    q.issued += base_;
    put(req, q);
    ++outstanding_;
  }
  port->outbox.clear();
}

void PeArray::take(const MemResponse& r) {
  --outstanding_;
  if (e_) e_->transfer_done(r.fold, r.buf, r.at - base_);
}

// The array's transfers first, then the PPU's (they never share a row).
void SparseFrontEnd::on_activity() {
  FrontEndActivity a;
  while (activity.nb_read(a)) {
    totals.push += a.push, totals.pop += a.pop, totals.reader_stall += a.reader_stall;
    totals.port_wait += a.port_wait, totals.feed_wait += a.feed_wait;
    ++totals.active_cycles;
  }
}

void Dma::forward() {
  MemRequest q;
  while (from_array.nb_read(q)) {
    notify(observer, WireEvent{WireEvent::request, clock_index(), q, {}, 0});
    put(to_dram, q);
  }
  while (from_ppu.nb_read(q)) {
    notify(observer, WireEvent{WireEvent::request, clock_index(), q, {}, 0});
    put(to_dram, q);
  }
}

void Dma::route() {
  MemResponse r;
  while (from_dram.nb_read(r)) {
    notify(observer, WireEvent{WireEvent::response, clock_index(), {}, r, 0});
    if (r.src == kFromPpu)
      put(to_ppu, r);
    else
      put(r.buf == sim::MemoryPort::kWrite ? write_done : fill[r.buf], r);
  }
}

void SramBuffer::on_fill() {
  MemResponse r;
  while (fill_in.nb_read(r)) {
    fill_bytes += r.bytes;
    fill_words += (r.bytes * 8 + word_bits - 1) / word_bits;
    notify(observer, WireEvent{WireEvent::fill, clock_index(), {}, r, 0});
    put(data_out, r);
  }
}

// Falling edge k handles clock k: takes the requests issued up to rising edge k, moves bytes,
// answers what is due.
void Dram::on_falling() {
  MemRequest q;
  while (req_in.nb_read(q)) model.accept(q);
  out_.clear();
  model.tick(clock_index(), out_);
  for (const auto& r : out_) put(resp_out, r);
  busy_cycles.write(model.busy_cycles());
}

// Falling edge k samples what the array did in clock k: a compute cycle carries one cycle of PPU
// work on its output stream; once the array is done, the PPU runs on alone (the tail).
void Ppu::on_falling() {
  PpuJob j;
  if (!active_ && job.nb_read(j)) active_ = true, array_ended_ = false, stream_ = sim::PpuOnStream(j.cycles);
  if (!active_) return;
  if (!array_ended_) {
    if (cycle_kind.read() != kIdle) stream_.beside_array(1);  // every clock of the row, not only compute
    ArrayEnd e;
    if (array_end.nb_read(e)) array_ended_ = true;
  } else {
    stream_.alone(1);
  }
  if (array_ended_ && stream_.done()) {
    put(done, PpuDone{stream_.tail()});
    active_ = false;
  }
}

// The PPU-only row's transfers go to the DMA as requests, answered later on mem_done.
int64_t Ppu::transfer(int64_t now, int64_t, int buf, int64_t bytes) {
  put(req, MemRequest{next_id_++, 0, buf, bytes, base_ + now, kFromPpu});
  return kPending;
}

// A PPU-only row (sim::PpuRow) on the PE array's clock mapping: rising edge base_ takes the row
// and sends its read (row cycle 0); rising edge base_ + 1 + t steps row cycle t.
void Ppu::on_rising() {
  MemResponse r;
  while (mem_done.nb_read(r))
    if (row_) row_->transfer_done(r.buf, r.at - base_);
  if (!row_) {
    PpuRowJob rj;
    if (!row_job.nb_read(rj)) return;
    base_ = clock_index();
    row_ = std::make_unique<sim::PpuRow>(rj.read_bytes, rj.write_bytes, rj.cycles, *this);
  } else {
    row_->step();
  }
  if (row_->done()) {
    put(done, PpuDone{row_->worked(), row_->waited()});
    row_.reset();
  }
}

void Controller::on_rising() {
  if (pending_) {
    if (job_.engine) {
      put(to_array, RowStart{job_.engine});
      put(to_ppu, PpuJob{job_.ppu_cycles});
    } else {
      put(to_ppu_row, PpuRowJob{job_.read_bytes, job_.write_bytes, job_.ppu_cycles});
    }
    busy0_ = dram_busy.read();
    pending_ = false, running_ = true, array_done_ = !job_.engine, ppu_done_ = false;
  }
  if (!running_) return;
  RowEnd re;
  PpuDone pd;
  if (from_array.nb_read(re)) array_done_ = true;
  if (from_ppu.nb_read(pd)) ppu_done_ = true, tail_ = pd.tail, stall_ = pd.stall;
  if (array_done_ && ppu_done_) {
    result.ppu_tail = tail_;
    result.stall = stall_;
    result.dma_busy_cycles = dram_busy.read() - busy0_;
    running_ = false, finished = true;
    sc_core::sc_pause();
  }
}

}  // namespace eatsim::sysc
