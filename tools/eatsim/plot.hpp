// Plots through gnuplot: each plot is a gnuplot script with inline data, rendered to PNG and SVG
// (PREFIX.png, PREFIX.svg; the script is kept as PREFIX.gp so users can restyle it).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace eatsim::plot {

// A simple CSV table: header + rows of strings (quotes handled).
struct Csv {
  std::string file;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int col(const std::string& name) const;  // throws UsageError naming the file and the columns it has
  double num(size_t row, int col) const;   // throws DataError on a non-number
};
Csv read_csv(const std::string& path);

// Renders `body` (gnuplot commands after the terminal/output lines) with named inline data blocks.
// Writes PREFIX.gp, PREFIX.png, PREFIX.svg. Throws UsageError when gnuplot is missing or fails.
void render(const std::string& prefix, const std::map<std::string, std::string>& data, const std::string& body,
            int width = 1000, int height = 600);

std::string quote(const std::string& s);  // a gnuplot string literal
std::string axis_label(const std::string& column);  // a column name with its unit, for axes
bool gnuplot_available();

}  // namespace eatsim::plot
