#include "web/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "../store/engines.h"
#include "../test_util.h"
#include "store/study_index.h"

namespace dxhub::web {
namespace {

using dxhub::testing::ScratchDir;

class ManualClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now; }
  int64_t now = 1'000'000;
};

class AuthTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.error().ToString();
    index_ = std::move(opened.value());
    auth_ = std::make_unique<Auth>(index_->users(), clock_);
  }
  void AddUser(const std::string& name, const std::string& role, const std::string& password) {
    store::UserRecord u;
    u.username = name;
    u.role = role;
    u.password_hash = HashPassword(password).value();
    ASSERT_TRUE(index_->users().CreateUser(u, clock_.now).ok());
  }
  std::vector<std::string> AuditActions() {
    std::vector<std::string> out;
    auto entries = index_->users().QueryAudit("", 0, clock_.now + 1, 100);  // kept alive
    for (const auto& e : entries.value())
      out.push_back(e.action + ":" + e.detail);
    return out;
  }

  ManualClock clock_;
  store::StudyIndexPtr index_;
  std::unique_ptr<Auth> auth_;
};

TEST(Passwords, Argon2idHashesVerifyAndDiffer) {
  auto a = HashPassword("correct horse battery");
  auto b = HashPassword("correct horse battery");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *a;
  EXPECT_NE(*a, *b);  // salted
  EXPECT_TRUE(VerifyPassword(*a, "correct horse battery"));
  EXPECT_FALSE(VerifyPassword(*a, "correct horse batterz"));
  EXPECT_FALSE(VerifyPassword("not a hash", "x"));
  EXPECT_FALSE(CheckPasswordPolicy("short").ok());
  EXPECT_TRUE(CheckPasswordPolicy("twelve chars").ok());
  EXPECT_EQ(NewToken().size(), 64u);
  EXPECT_NE(NewToken(), NewToken());
}

TEST(Roles, AreOrdered) {
  EXPECT_TRUE(RoleAtLeast("admin", Role::kRadiologist));
  EXPECT_TRUE(RoleAtLeast("radiologist", Role::kRadiologist));
  EXPECT_FALSE(RoleAtLeast("clinician", Role::kRadiologist));
  EXPECT_FALSE(RoleAtLeast("viewer", Role::kClinician));
  EXPECT_FALSE(RoleAtLeast("root", Role::kViewer));
}

TEST_P(AuthTest, LoginSessionLogout) {
  AddUser("li.wei", "radiologist", "a long password");
  auto login = auth_->Login("li.wei", "a long password", "10.0.0.7");
  ASSERT_TRUE(login.ok()) << login.error().ToString();
  EXPECT_EQ(login->user.role, "radiologist");
  auto session = auth_->Session(login->session_token).value();
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->user.username, "li.wei");
  EXPECT_EQ(session->csrf_token, login->csrf_token);
  EXPECT_FALSE(auth_->Session(NewToken()).value().has_value());
  EXPECT_FALSE(auth_->Session("short").value().has_value());

  clock_.now += AuthOptions{}.session_ms;  // expired
  EXPECT_FALSE(auth_->Session(login->session_token).value().has_value());
  clock_.now -= 1;
  EXPECT_TRUE(auth_->Session(login->session_token).value().has_value());
  ASSERT_TRUE(auth_->Logout(login->session_token).ok());
  EXPECT_FALSE(auth_->Session(login->session_token).value().has_value());
}

TEST_P(AuthTest, OneAddressIsThrottledWithoutLockingTheAccountForOthers) {
  AddUser("zhang", "clinician", "a long password");
  auto unknown = auth_->Login("nobody", "whatever", "1.1.1.1");
  auto wrong = auth_->Login("zhang", "wrong password", "1.1.1.1");
  ASSERT_FALSE(unknown.ok());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(unknown.error().message, wrong.error().message);  // does not reveal who exists
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthorized);
  for (int i = 0; i < 4; ++i)
    (void)auth_->Login("zhang", "wrong password", "1.1.1.1");
  // Five failures from 1.1.1.1: that address is turned away, even with the right password...
  auto throttled = auth_->Login("zhang", "a long password", "1.1.1.1");
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.error().code, ErrorCode::kTooManyRequests);
  // ...but the account is not locked for the doctor at another workstation.
  EXPECT_TRUE(auth_->Login("zhang", "a long password", "2.2.2.2").ok());
  clock_.now += AuthOptions{}.lock_ms + 1;
  EXPECT_TRUE(auth_->Login("zhang", "a long password", "1.1.1.1").ok());
  auto actions = AuditActions();
  EXPECT_EQ(actions.front(), "login:");
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "login.failed:wrong password"), 5);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "login.failed:unknown user"), 1);
  EXPECT_EQ(std::count(actions.begin(), actions.end(),
                       "login.throttled:too many failed sign-ins from this address"),
            1);
}

TEST_P(AuthTest, ManyAddressesLockTheAccountAndItAnswersLikeAWrongPassword) {
  AddUser("li", "radiologist", "a long password");
  auto token = auth_->IssueApiToken("li", "script", 0).value();
  for (int address = 0; address < 10; ++address) {
    for (int i = 0; i < 5; ++i)
      (void)auth_->Login("li", "guess", "10.0.0." + std::to_string(address));
  }
  auto locked = auth_->Login("li", "a long password", "10.9.9.9");
  ASSERT_FALSE(locked.ok());
  auto unknown = auth_->Login("nobody", "a long password", "10.9.9.9");
  EXPECT_EQ(locked.error().code, unknown.error().code);
  EXPECT_EQ(locked.error().message, unknown.error().message);    // locked looks like wrong
  EXPECT_FALSE(auth_->ApiTokenUser(token).value().has_value());  // tokens stop with the lock
  auto actions = AuditActions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "login.failed:account locked"), 1);
}

TEST_P(AuthTest, AuditedNamesAreBounded) {
  (void)auth_->Login(std::string(1 << 20, 'x') + "\n\x01", "pw", "3.3.3.3");
  auto entries = index_->users().QueryAudit("", 0, clock_.now + 1, 10).value();
  ASSERT_FALSE(entries.empty());
  EXPECT_LE(entries.front().username.size(), 67U);
  EXPECT_EQ(AuditableName("a\nb\x7f"), "a?b?");
}

TEST_P(AuthTest, DisablingOrChangingThePasswordEndsSessions) {
  AddUser("wang", "viewer", "a long password");
  auto login = auth_->Login("wang", "a long password", "x").value();
  ASSERT_TRUE(index_->users().SetDisabled("wang", true).ok());
  EXPECT_FALSE(auth_->Session(login.session_token).value().has_value());
  EXPECT_FALSE(auth_->Login("wang", "a long password", "x").ok());
  ASSERT_TRUE(index_->users().SetDisabled("wang", false).ok());
  login = auth_->Login("wang", "a long password", "x").value();
  ASSERT_TRUE(
      index_->users().SetPassword("wang", HashPassword("another password").value(), 5).ok());
  EXPECT_FALSE(auth_->Session(login.session_token).value().has_value());
  EXPECT_TRUE(auth_->Login("wang", "another password", "x").ok());
  EXPECT_EQ(index_->users().SetDisabled("ghost", true).error().code, ErrorCode::kNotFound);
}

TEST_P(AuthTest, ApiTokensExpireAndFollowTheirUser) {
  AddUser("robot", "viewer", "a long password");
  auto token = auth_->IssueApiToken("robot", "nightly export", 1000).value();
  EXPECT_EQ(auth_->ApiTokenUser(token).value()->username, "robot");
  clock_.now += 1001;
  EXPECT_FALSE(auth_->ApiTokenUser(token).value().has_value());
  auto forever = auth_->IssueApiToken("robot", "x", 0).value();
  ASSERT_TRUE(index_->users().SetDisabled("robot", true).ok());
  EXPECT_FALSE(auth_->ApiTokenUser(forever).value().has_value());
  EXPECT_EQ(auth_->IssueApiToken("ghost", "x", 0).error().code, ErrorCode::kNotFound);
}

TEST_P(AuthTest, InitialAdminOnlyOnFirstStart) {
  const std::string path = dir_ / "initial-admin-password";
  auto first = auth_->EnsureInitialAdmin(path).value();
  ASSERT_TRUE(first.has_value());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string written;
  std::getline(std::ifstream(path), written);
  EXPECT_EQ(written, *first);
  EXPECT_TRUE(auth_->Login("admin", *first, "local").ok());
  EXPECT_EQ(auth_->Login("admin", *first, "local")->user.role, "admin");
  EXPECT_FALSE(auth_->EnsureInitialAdmin(path).value().has_value());  // users exist now
}

DXHUB_BOTH_ENGINES(AuthTest);

}  // namespace
}  // namespace dxhub::web
