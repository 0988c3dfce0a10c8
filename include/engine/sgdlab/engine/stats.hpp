#pragma once
// Small statistics used by the study report.
#include <vector>

namespace sgdlab {

double mean(const std::vector<double>& v);
// Sample standard deviation (n - 1); 0 for fewer than two values.
double sample_std(const std::vector<double>& v);
// Pearson's r; NaN when either side has no spread.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace sgdlab
