#include "web/route_table.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>

namespace dxhub::web {
namespace {

// A real httplib server on a loopback port with a guard that lets in whoever names a role in
// X-Test-Role at least as high as the route's, and counts what it audits.
class RouteTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
  }
  void Listen() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib 0.11 has no wait_until_ready.
    while (!server_.is_running())
      std::this_thread::yield();
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable())
      thread_.join();
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10);
    return c;
  }

  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<int> audited_{0};
  RouteTable routes_{server_, [this](const RoutePolicy& policy, const httplib::Request& req,
                                     httplib::Response& res, std::optional<Caller>& caller) {
                       if (!policy.role)
                         return true;
                       const std::string role = req.get_header_value("X-Test-Role");
                       if (role.empty() || !RoleAtLeast(role, *policy.role)) {
                         res.status = role.empty() ? 401 : 403;
                         return false;
                       }
                       if (policy.data == Data::kPatient)
                         ++audited_;
                       Caller c;
                       c.user.username = "u-" + role;
                       c.user.role = role;
                       caller = c;
                       return true;
                     }};
};

TEST_F(RouteTableTest, OpenRoutesHaveNoCallerAndProtectedOnesTheGuardsCaller) {
  routes_.Get("/open", kOpen,
              [](const RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
                res.set_content(ctx.caller == nullptr ? "nobody" : "somebody", "text/plain");
              });
  routes_.Get("/data", Needs(Role::kViewer, Data::kPatient),
              [](const RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
                res.set_content(ctx.caller->user.username, "text/plain");
              });
  Listen();
  auto c = Client();
  auto open = c.Get("/open");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->body, "nobody");
  auto refused = c.Get("/data");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(audited_, 0);
  auto served = c.Get("/data", {{"X-Test-Role", "viewer"}});
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  EXPECT_EQ(served->body, "u-viewer");
  EXPECT_EQ(audited_, 1);
}

TEST_F(RouteTableTest, TheFirstMatchingRouteDecidesThePolicy) {
  int specific = 0;
  int general = 0;
  routes_.Post(
      R"(/things/([^/]+)/approve)", Needs(Role::kRadiologist),
      [&](const RequestContext&, const httplib::Request&, httplib::Response&) { ++specific; });
  routes_.Post(
      R"(/things/(.+))", Needs(Role::kViewer),
      [&](const RequestContext&, const httplib::Request&, httplib::Response&) { ++general; });
  Listen();
  auto c = Client();
  auto viewer = c.Post("/things/1/approve", httplib::Headers{{"X-Test-Role", "viewer"}}, "",
                       "application/json");
  ASSERT_TRUE(viewer);
  EXPECT_EQ(viewer->status, 403);  // the catch-all's weaker policy does not apply
  auto radiologist = c.Post("/things/1/approve", httplib::Headers{{"X-Test-Role", "radiologist"}},
                            "", "application/json");
  ASSERT_TRUE(radiologist);
  EXPECT_EQ(radiologist->status, 200);
  auto other = c.Post("/things/1/other", httplib::Headers{{"X-Test-Role", "viewer"}}, "",
                      "application/json");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(specific, 1);
  EXPECT_EQ(general, 1);
}

TEST_F(RouteTableTest, UploadsAreKnownBeforeRoutingAndGuardedBeforeTheirBodyIsRead) {
  std::string received;
  routes_.Upload(R"(/store/([^/]+))", Needs(Role::kClinician, Data::kPatient),
                 [&](const RequestContext& ctx, const httplib::Request&, httplib::Response& res,
                     const httplib::ContentReader& reader) {
                   reader([&](const char* data, size_t n) {
                     received.append(data, n);
                     return true;
                   });
                   res.set_content(ctx.caller->user.role, "text/plain");
                 });
  routes_.Post("/store", Needs(Role::kClinician),
               [](const RequestContext&, const httplib::Request&, httplib::Response&) {});
  EXPECT_TRUE(routes_.IsUpload("POST", "/store/abc"));
  EXPECT_FALSE(routes_.IsUpload("GET", "/store/abc"));
  EXPECT_FALSE(routes_.IsUpload("POST", "/store"));
  EXPECT_FALSE(routes_.IsUpload("POST", "/store/abc/more"));
  Listen();
  auto c = Client();
  auto refused = c.Post("/store/abc", httplib::Headers{{"X-Test-Role", "viewer"}}, "payload",
                        "application/octet-stream");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_TRUE(received.empty());
  auto stored = c.Post("/store/abc", httplib::Headers{{"X-Test-Role", "admin"}}, "payload",
                       "application/octet-stream");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->status, 200);
  EXPECT_EQ(stored->body, "admin");
  EXPECT_EQ(received, "payload");
  EXPECT_EQ(audited_, 1);
}

TEST_F(RouteTableTest, EveryRouteIsInTheTableWithItsPolicy) {
  auto nothing = [](const RequestContext&, const httplib::Request&, httplib::Response&) {};
  routes_.Get("/a", kOpen, nothing);
  routes_.Put("/b", Needs(Role::kAdmin), nothing);
  routes_.Delete("/c", Needs(Role::kRadiologist, Data::kPatient), nothing);
  const auto& entries = routes_.entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].method, "GET");
  EXPECT_FALSE(entries[0].policy.role.has_value());
  EXPECT_EQ(entries[1].method, "PUT");
  EXPECT_EQ(entries[1].policy.role, Role::kAdmin);
  EXPECT_EQ(entries[2].method, "DELETE");
  EXPECT_EQ(entries[2].policy.data, Data::kPatient);
}

}  // namespace
}  // namespace dxhub::web
