#include "dicom/pixels.h"

#include "dicom/transcode.h"

// DCMTK needs osconfig.h first and dcmimage.h before its plugin headers.
// clang-format off
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimage/diregist.h>  // colour images in DicomImage
#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmjpeg/dipijpeg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
// clang-format on

#include <openjpeg.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace dxhub::dicom {
namespace {

// DCMTK's decoders are registered process-wide, once.
void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

struct Loaded {
  DcmFileFormat file;
  int frames = 0;
};

Result<std::unique_ptr<Loaded>> Load(const std::string& path, int frame_number) {
  RegisterCodecs();
  auto loaded = std::make_unique<Loaded>();
  OFCondition cond =
      loaded->file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot read: ") + cond.text());
  DcmDataset* ds = loaded->file.getDataset();
  if (!ds->tagExists(DCM_PixelData))
    return MakeError(ErrorCode::kNotFound, "instance has no pixel data");
  Sint32 frames = 1;
  if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
    frames = 1;
  loaded->frames = frames;
  if (frame_number < 1 || frame_number > frames) {
    return MakeError(ErrorCode::kNotFound, "frame " + std::to_string(frame_number) +
                                               " does not exist (" + std::to_string(frames) +
                                               " frames)");
  }
  return loaded;
}

Error DecodeError(DcmDataset* ds, const OFCondition& cond) {
  DcmXfer xfer(ds->getOriginalXfer());
  if (xfer.getXfer() == EXS_JPEG2000LosslessOnly || xfer.getXfer() == EXS_JPEG2000) {
    return MakeError(ErrorCode::kUnsupported, "JPEG 2000 frame cannot be decoded");
  }
  return MakeError(ErrorCode::kUnsupported, std::string("cannot decode pixel data (") +
                                                xfer.getXferName() + "): " + cond.text());
}

bool IsJpeg2000(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000;
}

// The compressed bytes of one frame of encapsulated pixel data: all fragments for a single
// frame, else one fragment per frame, else the Basic Offset Table.
Result<std::string> FrameFragments(DcmDataset* ds, int frame_number, int frames) {
  DcmElement* element = nullptr;
  ds->findAndGetElement(DCM_PixelData, element);
  auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  if (pixel_data == nullptr ||
      pixel_data->getEncapsulatedRepresentation(ds->getOriginalXfer(), nullptr, sequence).bad() ||
      sequence == nullptr) {
    return MakeError(ErrorCode::kMalformedDicom, "no encapsulated pixel data");
  }
  const unsigned long items = sequence->card();
  auto item_bytes = [&](unsigned long i) -> std::string {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (sequence->getItem(item, i).bad() || item->getUint8Array(data).bad() || data == nullptr)
      return {};
    return std::string(reinterpret_cast<const char*>(data), item->getLength());
  };
  if (items < 2)
    return MakeError(ErrorCode::kMalformedDicom, "encapsulated pixel data has no fragments");
  std::string out;
  if (frames == 1) {
    for (unsigned long i = 1; i < items; ++i)
      out += item_bytes(i);
    return out;
  }
  if (items - 1 == static_cast<unsigned long>(frames))
    return item_bytes(static_cast<unsigned long>(frame_number));
  // Several fragments per frame: follow the Basic Offset Table (byte offsets of each frame's first
  // fragment item, counted from the first fragment).
  std::string table = item_bytes(0);
  if (table.size() != static_cast<size_t>(frames) * 4)
    return MakeError(ErrorCode::kUnsupported, "multi-fragment frames without an offset table");
  auto offset_of = [&](int f) {
    Uint32 v = 0;
    std::memcpy(&v, table.data() + static_cast<size_t>(f) * 4, 4);
    return v;
  };
  const Uint32 begin = offset_of(frame_number - 1);
  const Uint32 end = frame_number < frames ? offset_of(frame_number) : 0xFFFFFFFF;
  Uint32 position = 0;
  for (unsigned long i = 1; i < items; ++i) {
    std::string bytes = item_bytes(i);
    if (position >= begin && position < end)
      out += bytes;
    position += 8 + static_cast<Uint32>(bytes.size());  // item header + value
  }
  return out;
}

struct MemoryStream {
  const std::string* data;
  size_t offset = 0;
};

OPJ_SIZE_T ReadStream(void* buffer, OPJ_SIZE_T size, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->offset >= s->data->size())
    return static_cast<OPJ_SIZE_T>(-1);
  size_t n = std::min(size, s->data->size() - s->offset);
  std::memcpy(buffer, s->data->data() + s->offset, n);
  s->offset += n;
  return n;
}

OPJ_OFF_T SkipStream(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 || s->offset + static_cast<size_t>(n) > s->data->size())
    return -1;
  s->offset += static_cast<size_t>(n);
  return n;
}

OPJ_BOOL SeekStream(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 || static_cast<size_t>(n) > s->data->size())
    return OPJ_FALSE;
  s->offset = static_cast<size_t>(n);
  return OPJ_TRUE;
}

struct DecodedJpeg2000 {
  std::string pixels;
  int columns = 0;
  int rows = 0;
};

// Decodes one JPEG 2000 frame (codestream or JP2) with OpenJPEG into native pixels laid out as
// the dataset describes (BitsAllocated 8 or 16, samples interleaved, little endian). With a
// minimum size, the frame is decoded at the lowest resolution level (each halving both sides)
// that still covers it: what a thumbnail or a 64-pixel model input needs, several times faster.
Result<DecodedJpeg2000> DecodeJpeg2000(const std::string& compressed, int bits_allocated,
                                       int min_columns = 0, int min_rows = 0) {
  const bool jp2 = compressed.size() > 12 && compressed.compare(4, 4, "jP  ") == 0;
  std::unique_ptr<opj_codec_t, decltype(&opj_destroy_codec)> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K), &opj_destroy_codec);
  std::unique_ptr<opj_stream_t, decltype(&opj_stream_destroy)> stream(
      opj_stream_create(1 << 16, OPJ_TRUE), &opj_stream_destroy);
  if (!codec || !stream)
    return MakeError(ErrorCode::kInternal, "OpenJPEG initialisation failed");
  MemoryStream source{&compressed};
  opj_stream_set_user_data(stream.get(), &source, nullptr);
  opj_stream_set_user_data_length(stream.get(), compressed.size());
  opj_stream_set_read_function(stream.get(), ReadStream);
  opj_stream_set_skip_function(stream.get(), SkipStream);
  opj_stream_set_seek_function(stream.get(), SeekStream);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  if (!opj_setup_decoder(codec.get(), &parameters))
    return MakeError(ErrorCode::kInternal, "OpenJPEG decoder setup failed");
  opj_image_t* raw_image = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw_image))
    return MakeError(ErrorCode::kMalformedDicom, "JPEG 2000 header cannot be read");
  std::unique_ptr<opj_image_t, decltype(&opj_image_destroy)> image(raw_image, &opj_image_destroy);
  if (min_columns > 0 && min_rows > 0) {
    opj_codestream_info_v2_t* info = opj_get_cstr_info(codec.get());
    OPJ_UINT32 levels = 1;
    if (info != nullptr && info->m_default_tile_info.tccp_info != nullptr)
      levels = info->m_default_tile_info.tccp_info[0].numresolutions;
    opj_destroy_cstr_info(&info);
    const OPJ_UINT32 full_w = image->x1 - image->x0;
    const OPJ_UINT32 full_h = image->y1 - image->y0;
    OPJ_UINT32 reduce = 0;
    while (reduce + 1 < levels &&
           (full_w >> (reduce + 1)) >= static_cast<OPJ_UINT32>(min_columns) &&
           (full_h >> (reduce + 1)) >= static_cast<OPJ_UINT32>(min_rows)) {
      ++reduce;
    }
    if (reduce > 0 && !opj_set_decoded_resolution_factor(codec.get(), reduce))
      return MakeError(ErrorCode::kInternal, "OpenJPEG cannot reduce the resolution");
  }
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return MakeError(ErrorCode::kMalformedDicom, "JPEG 2000 frame cannot be decoded");
  }
  const OPJ_UINT32 components = image->numcomps;
  if (components == 0)
    return MakeError(ErrorCode::kMalformedDicom, "JPEG 2000 frame has no components");
  const size_t pixels = static_cast<size_t>(image->comps[0].w) * image->comps[0].h;
  const size_t bytes_per_sample = bits_allocated > 8 ? 2 : 1;
  std::string out(pixels * components * bytes_per_sample, '\0');
  for (OPJ_UINT32 c = 0; c < components; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (static_cast<size_t>(comp.w) * comp.h != pixels || comp.data == nullptr)
      return MakeError(ErrorCode::kUnsupported, "JPEG 2000 components differ in size");
    for (size_t i = 0; i < pixels; ++i) {
      const auto v = static_cast<uint32_t>(comp.data[i]);  // two's complement kept as stored
      const size_t at = (i * components + c) * bytes_per_sample;
      out[at] = static_cast<char>(v & 0xFF);
      if (bytes_per_sample == 2)
        out[at + 1] = static_cast<char>((v >> 8) & 0xFF);
    }
  }
  return DecodedJpeg2000{std::move(out), static_cast<int>(image->comps[0].w),
                         static_cast<int>(image->comps[0].h)};
}

Result<DecodedJpeg2000> ReadJpeg2000FrameAtLeast(DcmDataset* ds, int frame_number, int frames,
                                                 int min_columns, int min_rows) {
  auto compressed = FrameFragments(ds, frame_number, frames);
  if (!compressed.ok())
    return compressed.error();
  Uint16 bits_allocated = 16;
  ds->findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  return DecodeJpeg2000(*compressed, bits_allocated, min_columns, min_rows);
}

Result<std::string> ReadJpeg2000Frame(DcmDataset* ds, int frame_number, int frames) {
  auto decoded = ReadJpeg2000FrameAtLeast(ds, frame_number, frames, 0, 0);
  if (!decoded.ok())
    return decoded.error();
  return std::move(decoded->pixels);
}

// Puts decoded JPEG 2000 pixels in place of the encapsulated ones: OW for 16-bit samples (OB
// would be invalid), samples interleaved, RGB where the codec undid the colour transform.
// Native pixels are little endian, as is this host (x86-64, arm64).
OFCondition ReplaceWithNativePixels(DcmDataset* ds, const std::string& pixels) {
  Uint16 bits_allocated = 16;
  ds->findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  ds->findAndDeleteElement(DCM_PixelData);
  OFString photometric;
  ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  if (photometric == "YBR_RCT" || photometric == "YBR_ICT")
    ds->putAndInsertString(DCM_PhotometricInterpretation, "RGB");
  if (ds->tagExists(DCM_PlanarConfiguration))
    ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
  if (bits_allocated > 8) {
    std::vector<Uint16> words(pixels.size() / 2);
    std::memcpy(words.data(), pixels.data(), words.size() * 2);
    return ds->putAndInsertUint16Array(DCM_PixelData, words.data(), words.size());
  }
  return ds->putAndInsertUint8Array(DCM_PixelData, reinterpret_cast<const Uint8*>(pixels.data()),
                                    pixels.size());
}

}  // namespace

bool IsUncompressedSyntax(const std::string& ts) {
  return ts == UID_LittleEndianExplicitTransferSyntax ||
         ts == UID_LittleEndianImplicitTransferSyntax || ts == UID_BigEndianExplicitTransferSyntax;
}

Result<std::unique_ptr<DcmFileFormat>> LoadDecompressed(const std::string& path) {
  RegisterCodecs();
  auto file = std::make_unique<DcmFileFormat>();
  OFCondition cond = file->loadFile(path.c_str());
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot read: ") + cond.text());
  DcmDataset* ds = file->getDataset();
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  if (!DcmXfer(xfer).isEncapsulated() || !ds->tagExists(DCM_PixelData))
    return file;
  if (IsJpeg2000(xfer)) {
    Sint32 frames = 1;
    if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
      frames = 1;
    std::string native;
    for (int f = 1; f <= frames; ++f) {
      auto frame = ReadJpeg2000Frame(ds, f, frames);
      if (!frame.ok())
        return frame.error();
      native += *frame;
    }
    cond = ReplaceWithNativePixels(ds, native);
  } else {
    cond = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
  }
  if (cond.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
    return MakeError(ErrorCode::kUnsupported,
                     std::string("cannot decode pixel data (") + DcmXfer(xfer).getXferName() + ")");
  }
  return file;
}

namespace {

// Frame `frame_number` of a loaded file as native little-endian pixels.
Result<std::string> NativeFrame(Loaded& loaded, int frame_number) {
  DcmDataset* ds = loaded.file.getDataset();
  if (IsJpeg2000(ds->getOriginalXfer()))
    return ReadJpeg2000Frame(ds, frame_number, loaded.frames);
  DcmElement* pixel_data = nullptr;
  ds->findAndGetElement(DCM_PixelData, pixel_data);
  Uint32 frame_size = 0;
  OFCondition cond = pixel_data->getUncompressedFrameSize(ds, frame_size);
  if (cond.bad() || frame_size == 0)
    return DecodeError(ds, cond);
  std::string frame(frame_size, '\0');
  Uint32 start_fragment = 0;
  OFString colour_model;
  cond = pixel_data->getUncompressedFrame(ds, static_cast<Uint32>(frame_number - 1), start_fragment,
                                          frame.data(), frame_size, colour_model);
  if (cond.bad())
    return DecodeError(ds, cond);
  return frame;
}

}  // namespace

Result<std::string> ReadFrame(const std::string& path, int frame_number) {
  auto loaded = Load(path, frame_number);
  if (!loaded.ok())
    return loaded.error();
  return NativeFrame(**loaded, frame_number);
}

Result<ImagePlane> ReadImagePlane(const std::string& path, int frame_number) {
  auto loaded = Load(path, frame_number);
  if (!loaded.ok())
    return loaded.error();
  DcmDataset* ds = (*loaded)->file.getDataset();
  ImagePlane plane;
  Uint16 rows = 0, columns = 0, bits = 0, pixel_rep = 0, samples = 1;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, columns);
  ds->findAndGetUint16(DCM_BitsAllocated, bits);
  ds->findAndGetUint16(DCM_PixelRepresentation, pixel_rep);
  ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
  if (samples != 1)
    return MakeError(ErrorCode::kUnsupported, "colour images cannot form a volume");
  if (bits != 8 && bits != 16)
    return MakeError(ErrorCode::kUnsupported,
                     "BitsAllocated " + std::to_string(bits) + " is not supported for volumes");
  plane.rows = rows;
  plane.columns = columns;
  plane.frames = (*loaded)->frames;
  bool has_position = true, has_orientation = true;
  for (unsigned long i = 0; i < 3; ++i)
    has_position = has_position &&
                   ds->findAndGetFloat64(DCM_ImagePositionPatient, plane.position[i], i).good();
  for (unsigned long i = 0; i < 6; ++i)
    has_orientation =
        has_orientation &&
        ds->findAndGetFloat64(DCM_ImageOrientationPatient, plane.orientation[i], i).good();
  plane.has_geometry = has_position && has_orientation;
  for (unsigned long i = 0; i < 2; ++i) {
    if (ds->findAndGetFloat64(DCM_PixelSpacing, plane.pixel_spacing[i], i).bad())
      plane.pixel_spacing[i] = 1;
  }
  if (ds->findAndGetFloat64(DCM_RescaleSlope, plane.slope).bad() || plane.slope == 0)
    plane.slope = 1;
  if (ds->findAndGetFloat64(DCM_RescaleIntercept, plane.intercept).bad())
    plane.intercept = 0;
  auto native = NativeFrame(**loaded, frame_number);
  if (!native.ok())
    return native.error();
  const size_t count = static_cast<size_t>(rows) * columns;
  if (native->size() < count * (bits / 8))
    return MakeError(ErrorCode::kMalformedDicom, "pixel data shorter than Rows x Columns");
  plane.values.resize(count);
  const auto* bytes = reinterpret_cast<const unsigned char*>(native->data());
  for (size_t i = 0; i < count; ++i) {
    if (bits == 8) {
      plane.values[i] = pixel_rep != 0 ? static_cast<float>(static_cast<int8_t>(bytes[i]))
                                       : static_cast<float>(bytes[i]);
    } else {
      const auto u = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      plane.values[i] =
          pixel_rep != 0 ? static_cast<float>(static_cast<int16_t>(u)) : static_cast<float>(u);
    }
  }
  return plane;
}

Result<StoredFrame> ReadStoredFrame(const std::string& path, int frame_number) {
  auto loaded = Load(path, frame_number);
  if (!loaded.ok())
    return loaded.error();
  DcmDataset* ds = (*loaded)->file.getDataset();
  const DcmXfer xfer(ds->getOriginalXfer());
  if (!xfer.isEncapsulated()) {
    auto native = NativeFrame(**loaded, frame_number);  // the file is parsed once
    if (!native.ok())
      return native.error();
    return StoredFrame{std::move(native.value()), UID_LittleEndianExplicitTransferSyntax};
  }
  auto bytes = FrameFragments(ds, frame_number, (*loaded)->frames);
  if (!bytes.ok())
    return bytes.error();
  return StoredFrame{std::move(bytes.value()), xfer.getXferID()};
}

namespace {

// A DicomImage of one frame, with the dataset it reads from kept alive beside it. JPEG 2000
// frames (which DCMTK cannot decode) are decoded by OpenJPEG and handed over as native pixels.
struct FrameImage {
  std::unique_ptr<Loaded> loaded;
  std::unique_ptr<DicomImage> image;
};

Result<FrameImage> LoadFrameImage(const std::string& path, int frame_number, int min_columns = 0,
                                  int min_rows = 0) {
  auto loaded = Load(path, frame_number);
  if (!loaded.ok())
    return loaded.error();
  DcmDataset* ds = (*loaded)->file.getDataset();
  auto first_frame = static_cast<unsigned long>(frame_number - 1);
  E_TransferSyntax xfer = ds->getOriginalXfer();
  if (IsJpeg2000(xfer)) {
    auto decoded =
        ReadJpeg2000FrameAtLeast(ds, frame_number, (*loaded)->frames, min_columns, min_rows);
    if (!decoded.ok())
      return decoded.error();
    const std::string* frame = &decoded->pixels;
    // A reduced-resolution decode changes the image size the dataset must describe.
    ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(decoded->rows));
    ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(decoded->columns));
    ds->findAndDeleteElement(DCM_NumberOfFrames);  // the one decoded frame
    ReplaceWithNativePixels(ds, *frame);
    ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    xfer = EXS_LittleEndianExplicit;
    first_frame = 0;
  }
  auto image =
      std::make_unique<DicomImage>(ds, xfer, CIF_UsePartialAccessToPixelData, first_frame, 1);
  if (image->getStatus() != EIS_Normal)
    return DecodeError(ds, EC_IllegalCall);
  return FrameImage{std::move(loaded.value()), std::move(image)};
}

}  // namespace

Result<DisplayFrame> ReadDisplayFrame(const std::string& path, int frame_number,
                                      const DisplayWindow& window, int min_columns, int min_rows) {
  auto frame = LoadFrameImage(path, frame_number, min_columns, min_rows);
  if (!frame.ok())
    return frame.error();
  DicomImage& image = *frame->image;
  if (image.isMonochrome()) {
    if (window.kind == DisplayWindow::Kind::kExplicit) {
      image.setWindow(window.center, window.width);
    } else if (window.kind == DisplayWindow::Kind::kDataset && image.getWindowCount() > 0) {
      image.setWindow(0);
    } else {
      image.setMinMaxWindow();
    }
  }
  DisplayFrame out;
  out.columns = static_cast<int>(image.getWidth());
  out.rows = static_cast<int>(image.getHeight());
  out.samples = image.isMonochrome() ? 1 : 3;
  const size_t count = static_cast<size_t>(out.columns) * out.rows * out.samples;
  out.pixels.resize(count);
  // 16 bits per sample keeps the window's precision (a CT window spans far more than 256 HU).
  if (count == 0 || !image.getOutputData(out.pixels.data(), count * 2, 16, 0, 0)) {
    return MakeError(ErrorCode::kUnsupported, "pixel data cannot be rendered");
  }
  return out;
}

Result<std::string> RenderFrame(const std::string& path, int frame_number,
                                const RenderOptions& options) {
  auto frame = LoadFrameImage(path, frame_number, options.viewport_columns, options.viewport_rows);
  if (!frame.ok())
    return frame.error();
  DicomImage& image = *frame->image;
  DicomImage* shown = &image;
  std::unique_ptr<DicomImage> scaled;
  const auto columns = static_cast<double>(image.getWidth());
  const auto rows = static_cast<double>(image.getHeight());
  if (options.viewport_columns > 0 && options.viewport_rows > 0 && columns > 0 && rows > 0) {
    const double factor =
        std::min({1.0, options.viewport_columns / columns, options.viewport_rows / rows});
    if (factor < 1.0) {
      // Interpolation 4 (bicubic-like) averages rather than drops pixels when shrinking.
      const auto width = static_cast<unsigned long>(std::max(1L, std::lround(columns * factor)));
      const auto height = static_cast<unsigned long>(std::max(1L, std::lround(rows * factor)));
      scaled.reset(image.createScaledImage(width, height, 4, 0));
      if (!scaled || scaled->getStatus() != EIS_Normal)
        return MakeError(ErrorCode::kInternal, "image scaling failed");
      shown = scaled.get();
    }
  }
  // The VOI window is set on the image actually written (a scaled copy has its own).
  if (shown->isMonochrome()) {
    if (options.window_center && options.window_width) {
      shown->setWindow(*options.window_center, *options.window_width);
    } else if (shown->getWindowCount() > 0) {
      shown->setWindow(0);
    } else {
      shown->setMinMaxWindow();
    }
  }
  // DCMTK's writer plugins write to a FILE*; an in-memory stream avoids a temp file.
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  if (out == nullptr)
    return MakeError(ErrorCode::kInternal, "open_memstream failed");
  int ok = 0;
  if (options.format == RenderOptions::Format::kPng) {
    DiPNGPlugin png;
    png.setInterlaceType(E_pngInterlaceNone);  // faster to encode and to show progressively
    ok = shown->writePluginFormat(&png, out, 0);
  } else {
    DiJPEGPlugin jpeg;
    jpeg.setQuality(static_cast<unsigned int>(options.quality));
    ok = shown->writePluginFormat(&jpeg, out, 0);
  }
  std::fclose(out);  // NOLINT(cppcoreguidelines-owning-memory): C stream API
  std::string encoded(buffer != nullptr ? buffer : "", buffer != nullptr ? size : 0);
  // open_memstream allocated the buffer with malloc; it is ours to free.
  std::free(buffer);  // NOLINT(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
  if (!ok || encoded.empty())
    return MakeError(ErrorCode::kInternal, "image encoding failed");
  return encoded;
}

}  // namespace dxhub::dicom
