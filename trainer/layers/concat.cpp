// concat: the inputs' channels one after another, (N, ΣC_i, H, W) or (N, ΣF_i), with oneDNN's
// concat primitive into a plain layout; backward hands each input its channel slice of dy (a
// sub-memory view of the plain gradient, reordered into the input's layout).
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Concat : public Layer {
 public:
  explicit Concat(BuildArgs& a) : out_(&a.out), ins_(a.in), diffs_(a.diff_in) {
    Env& e = a.env;
    Shape dims = ins_[0]->dims;
    dims[1] = 0;
    std::vector<md> srcs;
    for (Act* x : ins_) dims[1] += x->dims[1], srcs.push_back(x->desc);
    a.out.dims = dims;
    a.out.desc = plain_desc(dims);
    fwd_ = dnnl::concat(dnnl::concat::primitive_desc(a.out.desc, 1, srcs, e.eng));
    int64_t at = 0;
    for (size_t i = 0; i < ins_.size(); ++i) {
      memory::dims sub = to_dims(ins_[i]->dims), off(sub.size(), 0);
      off[1] = at;
      at += ins_[i]->dims[1];
      slices_.push_back(a.out.desc.submemory_desc(sub, off));
      back_.push_back(diffs_[i] ? make_reorder(e, slices_.back(), diffs_[i].get_desc()) : dnnl::reorder());
    }
  }

  void forward(Env& e, bool) override {
    std::unordered_map<int, memory> args{{DNNL_ARG_DST, out_->data}};
    for (size_t i = 0; i < ins_.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + int(i)] = ins_[i]->data;
    fwd_.execute(e.s, args);
  }

  void backward(Env& e) override {
    for (size_t i = 0; i < ins_.size(); ++i) {
      if (!diffs_[i]) continue;
      memory slice(slices_[i], e.eng, out_->diff.get_data_handle());
      back_[i].execute(e.s, slice, diffs_[i]);
    }
  }

 private:
  Act* out_;
  std::vector<Act*> ins_;
  std::vector<memory> diffs_;
  std::vector<md> slices_;
  std::vector<dnnl::reorder> back_;
  dnnl::concat fwd_;
};

}  // namespace

std::unique_ptr<Layer> make_concat(BuildArgs& a) { return std::make_unique<Concat>(a); }

}  // namespace eatsim::trainer
