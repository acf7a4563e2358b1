#pragma once
// Prometheus histograms, kept in memory and rendered in the text exposition format at /metrics.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace dxhub {

/// A cumulative histogram of seconds with fixed bucket bounds. Thread-safe.
class Histogram {
 public:
  Histogram(std::string name, std::string help, std::vector<double> bounds);
  void Observe(double seconds);
  /// The metric in Prometheus text format (HELP, TYPE, _bucket, _sum, _count lines).
  std::string Render() const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

/// Bucket bounds for latencies from milliseconds to minutes.
std::vector<double> LatencyBuckets();

}  // namespace dxhub
