#include "ai/classifier.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../test_util.h"
#include "ai/model_card.h"
#include "ai/model_registry.h"

namespace dxhub::ai {
namespace {

using dxhub::testing::ScratchDir;

const std::string kReference = std::string(DXHUB_MODELS_DIR) + "/brightness-reference";

// A card folder with the reference ONNX file and `card` as card.toml.
std::string CardDir(const ScratchDir& dir, const std::string& card) {
  std::filesystem::copy_file(kReference + "/model.onnx", dir / "model.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir / "card.toml") << card;
  return dir.path();
}

dicom::DisplayFrame Uniform(int rows, int cols, uint16_t value) {
  dicom::DisplayFrame f;
  f.rows = rows;
  f.columns = cols;
  f.pixels.assign(static_cast<size_t>(rows) * cols, value);
  return f;
}

TEST(ModelCard, BundledReferenceCardLoads) {
  auto card = LoadModelCard(kReference);
  ASSERT_TRUE(card.ok()) << card.error().ToString();
  EXPECT_EQ(card->Id(), "brightness-reference@1.0.0");
  EXPECT_EQ(card->labels, (std::vector<std::string>{"normal", "high-risk"}));
  EXPECT_NE(card->intended_use.find("not a trained network"), std::string::npos);
  EXPECT_TRUE(AppliesTo(*card, "CT", "1.2.3", ""));
  // "Any modality" means any picture: not a report, its PDF or a segmentation.
  for (const char* document : {"SR", "DOC", "SEG"})
    EXPECT_FALSE(AppliesTo(*card, document, "1.2.3", "")) << document;
  ModelCard for_sr = *card;
  for_sr.modalities = {"SR"};
  EXPECT_TRUE(AppliesTo(for_sr, "SR", "1.2.3", ""));
}

// A card from its parts, so each case below breaks exactly one thing.
std::string Card(const std::string& top, const std::string& input, const std::string& output) {
  return top + "\nversion = \"1\"\nfile = \"model.onnx\"\nintended_use = \"tests\"\n[input]\n" +
         input + "\n[output]\n" + output + "\n";
}

TEST(ModelCard, RefusesInconsistentCards) {
  const std::string top = "name = \"t\"";
  const std::string input = "width = 64\nheight = 64\nchannels = 1";
  const std::string output = "labels = [\"normal\", \"high-risk\"]\nhigh_risk = [\"high-risk\"]";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Card("name = \"bad name\"", input, output), "name"},
      {Card(top, "width = 0\nheight = 64", output), "width"},
      {Card(top, input + "\nlayout = \"NHWC\"", output), "NCHW"},
      {Card(top, "width = 64\nheight = 64\nchannels = 2", output), "channels"},
      {Card(top, input + "\nmean = [0.1, 0.2]", output), "per channel"},
      {Card(top, input + "\nstd = [0.0]", output), "positive"},
      {Card(top, input + "\nwindow = [40]", output), "window"},
      {Card(top, input + "\nresize = \"crop\"", output), "resize"},
      {Card(top, input, "labels = [\"a\"]\nhigh_risk = [\"b\"]"), "not in output.labels"},
      {Card(top, input, "labels = [\"a\", \"a\"]"), "distinct"},
      {Card(top, input, output + "\nthreshold = 1.5"), "threshold"},
      {Card(top, input, output + "\nactivation = \"relu\""), "activation"},
      {Card(top + "\nsurprise = 1", input, output), "unknown key"},
      {Card(top, input, "high_risk = []"), "output.labels"},
  };
  for (const auto& [card, expected] : cases) {
    ScratchDir dir;
    auto loaded = LoadModelCard(CardDir(dir, card));
    ASSERT_FALSE(loaded.ok()) << card;
    EXPECT_NE(loaded.error().message.find(expected), std::string::npos)
        << card << " -> " << loaded.error().message;
  }
  ScratchDir ok;
  EXPECT_TRUE(LoadModelCard(CardDir(ok, Card(top, input, output))).ok());
  ScratchDir missing;
  std::ofstream(missing / "card.toml") << Card(top, input, output);
  EXPECT_NE(LoadModelCard(missing.path()).error().message.find("not found"), std::string::npos);
}

TEST(Classifier, ModelThatDoesNotMatchItsCardIsRefused) {
  const std::string top = "name = \"t\"";
  const std::string output = "labels = [\"normal\", \"high-risk\"]";
  ScratchDir dir;
  auto card = LoadModelCard(CardDir(dir, Card(top, "width = 32\nheight = 64", output)));
  ASSERT_TRUE(card.ok()) << card.error().ToString();
  auto loaded = Classifier::Load(*card, BackendOptions{1});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("takes input ?x1x64x64 but its card says 1x1x64x32"),
            std::string::npos)
      << loaded.error().message;

  ScratchDir dir2;
  card = LoadModelCard(
      CardDir(dir2, Card(top, "width = 64\nheight = 64", "labels = [\"a\", \"b\", \"c\"]")));
  ASSERT_TRUE(card.ok()) << card.error().ToString();
  loaded = Classifier::Load(*card, BackendOptions{1});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("gives 2 scores per image but its card lists 3"),
            std::string::npos)
      << loaded.error().message;

  ScratchDir target;
  auto added = AddModel(dir2.path(), target / "models");
  EXPECT_FALSE(added.ok());
  EXPECT_FALSE(std::filesystem::exists(target / "models/t-1"));
  ScratchDir good;
  added = AddModel(kReference, good / "models");
  ASSERT_TRUE(added.ok()) << added.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(good / "models/brightness-reference-1.0.0/model.onnx"));
  EXPECT_EQ(AddModel(kReference, good / "models").error().code, ErrorCode::kAlreadyExists);
  auto scan = ScanModels({kReference + "/..", good / "models"});
  ASSERT_EQ(scan.cards.size(), 1u);  // the same name@version twice: the first folder wins
  EXPECT_EQ(scan.problems.size(), 1u);
}

TEST(Classifier, ReferenceModelFollowsItsFormula) {
  auto card = LoadModelCard(kReference).value();
  auto classifier = Classifier::Load(card, BackendOptions{1});
  ASSERT_TRUE(classifier.ok()) << classifier.error().ToString();
  // Brightness 0.8 everywhere: logit gap 2 * 40 * 0.3 = 24, certain "high-risk".
  for (auto [value, label] : {std::pair{52428, "high-risk"}, std::pair{13107, "normal"}}) {
    Tensor t = Preprocess(Uniform(300, 200, static_cast<uint16_t>(value)), card);
    EXPECT_EQ(t.c * t.h * t.w, 64 * 64);
    auto raw = (*classifier)->RunTensor(t);
    ASSERT_TRUE(raw.ok());
    Prediction p = Interpret(card, *raw);
    EXPECT_EQ(p.label, label);
    EXPECT_EQ(p.high_risk, std::string(label) == "high-risk");
  }
  // Mean brightness 0.55 -> p(high-risk) = 1 / (1 + e^-4) (the box filter keeps a uniform mean).
  auto raw = (*classifier)->RunTensor(Preprocess(Uniform(64, 64, 36044), card)).value();
  EXPECT_NEAR(Interpret(card, raw).risk_score, 1.0 / (1.0 + std::exp(-40.0 * 2 * 0.05)), 1e-3);
}

TEST(Classifier, PreprocessLetterboxesAndNormalises) {
  auto card = LoadModelCard(kReference).value();
  card.resize = ModelCard::Resize::kLetterbox;
  card.mean = {0.5F};
  card.std = {0.25F};
  // A wide white image: letterboxed into the middle rows, black (normalised: -2) above/below.
  Tensor t = Preprocess(Uniform(32, 128, 65535), card);
  EXPECT_NEAR(t.data[0], -2.0F, 1e-5);            // top-left: padding
  EXPECT_NEAR(t.data[32 * 64 + 32], 2.0F, 1e-5);  // centre: (1 - 0.5) / 0.25
  card.channels = 3;
  card.mean = {0, 0, 0};
  card.std = {1, 1, 1};
  Tensor rgb = Preprocess(Uniform(64, 64, 32768), card);  // grey replicated to RGB
  EXPECT_EQ(rgb.c, 3);
  EXPECT_NEAR(rgb.data[0], rgb.data[64 * 64], 1e-6);
}

TEST(Classifier, InterpretAppliesActivationAndThreshold) {
  auto card = LoadModelCard(kReference).value();
  card.activation = ModelCard::Activation::kSoftmax;
  card.threshold = 0.9;
  Prediction p = Interpret(card, {0.0F, 2.0F});  // softmax: 0.12 / 0.88
  EXPECT_EQ(p.label, "high-risk");
  EXPECT_NEAR(p.risk_score, 0.8808, 1e-4);
  EXPECT_FALSE(p.high_risk);  // below the card's threshold of 0.9
  card.activation = ModelCard::Activation::kSigmoid;
  p = Interpret(card, {-3.0F, 3.0F});
  EXPECT_NEAR(p.risk_score, 0.9526, 1e-4);
  EXPECT_TRUE(p.high_risk);
}

// A backend that fails, as a model that throws at run time does.
class ThrowingBackend final : public InferenceBackend {
 public:
  Result<std::vector<std::vector<float>>> Run(const Tensor&) override {
    return MakeError(ErrorCode::kInternal, "model error: boom");
  }
};

TEST(Classifier, FailuresSayWhyAndWhetherToRetry) {
  auto card = LoadModelCard(kReference).value();
  auto throwing = Classifier::WithBackend(card, std::make_unique<ThrowingBackend>());
  const std::string ct = std::string(DXHUB_SAMPLE_DATA) + "/cr-chest/gdcm-CR-MONO1-10-chest.dcm";
  ImageResult r = throwing->Classify(ct, 1);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.failure->KindName(), "model_error");
  EXPECT_TRUE(r.failure->retryable());

  auto classifier = Classifier::Load(card, BackendOptions{1}).value();
  ScratchDir dir;
  std::ofstream(dir / "junk.dcm") << std::string(200, 'x');
  r = classifier->Classify(dir / "junk.dcm", 1);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.failure->KindName(), "decode_error");
  EXPECT_FALSE(r.failure->retryable());

  r = classifier->Classify(ct, 1);  // the real chest radiograph: MONOCHROME1, mostly bright
  ASSERT_FALSE(r.failure.has_value()) << r.failure->message;
  EXPECT_EQ(r.frames_analysed, 1);
}

TEST(Classifier, BatchedRunsGiveTheSameReadingsAndIsolateBadImages) {
  auto card = LoadModelCard(kReference).value();
  auto classifier = Classifier::Load(card, BackendOptions{1}).value();
  EXPECT_TRUE(classifier->batchable());  // the reference model declares a free batch dimension
  ScratchDir dir;
  std::ofstream(dir / "junk.dcm") << std::string(200, 'x');
  const std::string cr = std::string(DXHUB_SAMPLE_DATA) + "/cr-chest/gdcm-CR-MONO1-10-chest.dcm";
  std::vector<std::pair<std::string, int>> images = {{cr, 1}, {dir / "junk.dcm", 1}};
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DXHUB_SAMPLE_DATA) +
                                                               "/ct-abdomen-20slices")) {
    images.emplace_back(entry.path().string(), 1);
    if (images.size() == 6)
      break;
  }
  auto batched = classifier->ClassifyMany(images);
  ASSERT_EQ(batched.size(), images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    ImageResult single = classifier->Classify(images[i].first, images[i].second);
    ASSERT_EQ(batched[i].failure.has_value(), single.failure.has_value()) << i;
    if (single.failure) {
      EXPECT_EQ(batched[i].failure->KindName(), "decode_error");
      continue;
    }
    EXPECT_EQ(batched[i].prediction.label, single.prediction.label) << i;
    EXPECT_NEAR(batched[i].prediction.risk_score, single.prediction.risk_score, 1e-6) << i;
  }
}

TEST(Classifier, Jpeg2000IsDecodedOnlyAsFineAsTheModelNeeds) {
  std::string slice;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DXHUB_SAMPLE_DATA) +
                                                               "/ct-abdomen-20slices")) {
    slice = entry.path().string();
    break;
  }
  dicom::DisplayWindow window;
  auto full = dicom::ReadDisplayFrame(slice, 1, window);
  auto reduced = dicom::ReadDisplayFrame(slice, 1, window, 64, 48);
  ASSERT_TRUE(full.ok() && reduced.ok());
  EXPECT_EQ(full->columns, 512);
  EXPECT_EQ(reduced->columns, 64);  // 512 halved three times still covers 64 x 48
  EXPECT_EQ(reduced->rows, 64);
  auto card = LoadModelCard(kReference).value();
  EXPECT_FALSE(card.jpeg2000_reduced);  // exact by default
  auto exact = Classifier::Load(card, BackendOptions{1}).value()->Prepare(slice, 1);
  card.jpeg2000_reduced = true;
  auto fast = Classifier::Load(card, BackendOptions{1}).value()->Prepare(slice, 1);
  ASSERT_TRUE(exact.ok() && fast.ok());
  EXPECT_EQ(exact->data, Preprocess(*full, LoadModelCard(kReference).value()).data);
  ASSERT_EQ(fast->data.size(), exact->data.size());
  double diff = 0;
  for (size_t i = 0; i < exact->data.size(); ++i)
    diff += std::abs(exact->data[i] - fast->data[i]);
  EXPECT_LT(diff / static_cast<double>(exact->data.size()), 0.03);  // mean absolute difference
  auto mean = [](const dicom::DisplayFrame& f) {
    double sum = 0;
    for (uint16_t v : f.pixels)
      sum += v;
    return sum / static_cast<double>(f.pixels.size()) / 65535.0;
  };
  EXPECT_NEAR(mean(*reduced), mean(*full), 0.02);  // the low-pass band keeps the brightness
}

TEST(Classifier, MultiFrameReadsEvenlySpacedFrames) {
  EXPECT_EQ(Classifier::FramesToRead(0), std::vector<int>{1});
  EXPECT_EQ(Classifier::FramesToRead(3), (std::vector<int>{1, 2, 3}));
  auto many = Classifier::FramesToRead(96);
  EXPECT_EQ(many.size(), static_cast<size_t>(Classifier::kMaxFrames));
  EXPECT_EQ(many.front(), 1);
  EXPECT_EQ(many.back(), 96);
}

}  // namespace
}  // namespace dxhub::ai
