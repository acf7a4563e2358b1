#include "core/metrics.h"

#include <cstdint>
#include <sstream>

namespace dxhub {

Histogram::Histogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double seconds) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket])
    ++bucket;
  std::lock_guard lock(mu_);
  ++counts_[bucket];
  sum_ += seconds;
  ++count_;
}

std::string Histogram::Render() const {
  std::ostringstream out;
  out << "# HELP " << name_ << " " << help_ << "\n# TYPE " << name_ << " histogram\n";
  std::lock_guard lock(mu_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out << name_ << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
  }
  out << name_ << "_bucket{le=\"+Inf\"} " << count_ << "\n";
  out << name_ << "_sum " << sum_ << "\n" << name_ << "_count " << count_ << "\n";
  return out.str();
}

std::vector<double> LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800};
}

}  // namespace dxhub
