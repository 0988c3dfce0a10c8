#pragma once
// A data file read as a stream, gunzipped when it is gzip (zlib reads plain files as they
// are). Readers take what a header declares and stop, so that a small file that inflates
// to gigabytes, or one enormous line, never fills memory. Every error is an InputError
// naming the file: missing, unreadable, corrupt or cut short. Private to host/engine (the
// data readers).
#include <zlib.h>

#include <array>
#include <memory>
#include <string>

namespace sgdlab {

class GzipReader {
 public:
  explicit GzipReader(std::string path);
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  const std::string& path() const { return path_; }
  // Up to `n` bytes into `dst`; fewer only at the end of the file.
  size_t read(char* dst, size_t n);
  // The next line without its '\n'; false at the end of the file. A line longer than
  // `max_length` bytes is refused, naming its number `line_no`.
  bool read_line(std::string& line, size_t max_length, size_t line_no);
  // Whether the file ends here: a look of one byte, so data after what a header
  // declares is found without inflating it.
  bool at_end();

 private:
  struct Closer {
    void operator()(gzFile f) const noexcept { gzclose(f); }
  };
  size_t fill();  // refills the buffer; 0 at the end

  std::string path_;
  std::unique_ptr<gzFile_s, Closer> file_;
  std::array<char, 1 << 16> buffer_;
  size_t begin_ = 0, end_ = 0;  // the buffered bytes not yet taken
};

}  // namespace sgdlab
