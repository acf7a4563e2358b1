#pragma once
// The doctors' web app (web/ in the source tree), compiled into the binary and served at "/".
// Serving it from dxhub itself keeps one origin for pages and API, so the session cookie can be
// SameSite=Strict and the Content-Security-Policy can forbid every other origin.

#include <string_view>
#include <vector>

namespace dxhub::web {

class RouteTable;

struct WebAsset {
  std::string_view path;  // "/index.html", "/js/app.js"
  std::string_view content_type;
  std::string_view body;
};

/// Every file of the app (generated at build time).
const std::vector<WebAsset>& WebAssets();

/// Serves "/" (the app shell) and each asset at its path. No patient data lives in these files,
/// so they need no login; the API calls they make do.
void RegisterWebApp(RouteTable& routes);

}  // namespace dxhub::web
