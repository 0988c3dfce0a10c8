#include "host/download.hpp"

#include <curl/curl.h>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace sgdlab {

bool download_file(const std::string& url, const std::string& path, std::string* why) {
  struct CurlFree {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
  };
  struct FileClose {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) {
    *why = "libcurl failed to start";
    return false;
  }
  bool ok = false;
  {
    std::unique_ptr<std::FILE, FileClose> out(std::fopen(path.c_str(), "wb"));
    if (!out) {
      *why = "cannot write " + path;
      return false;
    }
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, out.get());
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 300L);
    const CURLcode rc = curl_easy_perform(curl.get());
    ok = rc == CURLE_OK;
    if (!ok) *why = curl_easy_strerror(rc);
  }
  if (!ok) std::filesystem::remove(path);
  return ok;
}

}  // namespace sgdlab
