#include "web/web_app.h"

#include <httplib.h>

#include <string>

#include "web/route_table.h"

namespace dxhub::web {
namespace {

void Send(httplib::Response& res, const WebAsset& asset) {
  res.status = 200;
  // The app is small and versioned with the binary: revalidate rather than risk a stale module
  // mixing with a newer one after an upgrade.
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                 "script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
  res.set_content(std::string(asset.body), std::string(asset.content_type));
}

}  // namespace

void RegisterWebApp(RouteTable& routes) {
  const WebAsset* index = nullptr;
  for (const auto& asset : WebAssets()) {
    if (asset.path == "/index.html")
      index = &asset;
  }
  for (const auto& asset : WebAssets()) {
    routes.Get(std::string(asset.path), kOpen,
               [&asset](const RequestContext&, const httplib::Request&, httplib::Response& res) {
                 Send(res, asset);
               });
  }
  if (index != nullptr) {
    routes.Get("/", kOpen,
               [index](const RequestContext&, const httplib::Request&, httplib::Response& res) {
                 Send(res, *index);
               });
  }
}

}  // namespace dxhub::web
