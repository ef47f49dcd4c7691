#include "transport/credentials.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

namespace ami::transport {
namespace fs = std::filesystem;

namespace {

struct FreeKey { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct FreeCert { void operator()(X509* c) const { X509_free(c); } };
struct FreeBio { void operator()(BIO* b) const { BIO_free(b); } };
using KeyPtr = std::unique_ptr<EVP_PKEY, FreeKey>;
using CertPtr = std::unique_ptr<X509, FreeCert>;
using BioPtr = std::unique_ptr<BIO, FreeBio>;

std::string OpenSslError(const std::string& what) {
  std::string out = what;
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named `cn`, signed by `issuer_key` (self-signed when `issuer`
// is null). A CA gets basicConstraints CA:TRUE; others serve both TLS roles.
Result<CertPtr> MakeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  CertPtr cert(X509_new());
  if (!cert) return Status::Internal(OpenSslError("X509_new"));
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Status::Internal(OpenSslError("RAND_bytes"));
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const long kDay = 24 * 3600;
  if (!serial_ok || X509_set_version(cert.get(), 2) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), (ca ? 3650 : 825) * kDay) ||
      X509_set_pubkey(cert.get(), key) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1)
    return Status::Internal(OpenSslError("making the certificate for " + cn));
  X509* signer = issuer ? issuer : cert.get();
  bool ext_ok = ca ? AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE") &&
                         AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign")
                   : AddExtension(cert.get(), signer, NID_basic_constraints, "CA:FALSE") &&
                         AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth") &&
                         AddExtension(cert.get(), signer, NID_subject_alt_name,
                                      "DNS:localhost,IP:127.0.0.1,IP:::1");
  if (!ext_ok) return Status::Internal(OpenSslError("certificate extensions for " + cn));
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
    return Status::Internal(OpenSslError("signing the certificate for " + cn));
  return cert;
}

// Opens `path` for writing with `mode`, failing if it exists.
Result<BioPtr> CreateFile(const fs::path& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Status::IOError("cannot create " + path.string() + ": " + std::strerror(errno));
  BioPtr bio(BIO_new_fd(fd, BIO_CLOSE));
  if (!bio) {
    ::close(fd);
    return Status::Internal(OpenSslError("BIO_new_fd"));
  }
  return bio;
}

Status WriteCert(const fs::path& path, X509* cert) {
  auto bio = CreateFile(path, 0644);
  if (!bio.ok()) return bio.status();
  if (PEM_write_bio_X509(bio->get(), cert) != 1) return Status::IOError(OpenSslError("writing " + path.string()));
  return Status::OK();
}

Status WriteKey(const fs::path& path, EVP_PKEY* key) {
  auto bio = CreateFile(path, 0600);
  if (!bio.ok()) return bio.status();
  if (PEM_write_bio_PrivateKey(bio->get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Status::IOError(OpenSslError("writing " + path.string()));
  return Status::OK();
}

Result<KeyPtr> NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Status::Internal(OpenSslError("making a P-256 key"));
  return key;
}

bool Complete(const fs::path& dir) {
  std::error_code ec;
  for (const char* f : {"ca.pem", "node.pem", "node.key", "operator.pem", "operator.key"})
    if (!fs::is_regular_file(dir / f, ec)) return false;
  return true;
}

template <class T, class Read>
Result<T> ReadPem(const fs::path& path, const char* what, Read read) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return Status::InvalidArgument(path.string() + ": cannot read the " + what + ": " + std::strerror(errno));
  }
  T value(read(bio.get()));
  if (!value) return Status::InvalidArgument(OpenSslError(path.string() + ": not a PEM " + what));
  return value;
}

}  // namespace

TlsFiles NodeFilesIn(const fs::path& dir) { return {dir / "ca.pem", dir / "node.pem", dir / "node.key"}; }
TlsFiles OperatorFilesIn(const fs::path& dir) { return {dir / "ca.pem", dir / "operator.pem", dir / "operator.key"}; }

Status MakeLocalCredentials(const fs::path& dir, const std::string& node_id) {
  if (Complete(dir)) return Status::OK();
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  const fs::path tmp = dir.string() + ".new";
  fs::remove_all(tmp, ec);
  if (::mkdir(tmp.c_str(), 0700) != 0)
    return Status::IOError("cannot create " + tmp.string() + ": " + std::strerror(errno));

  auto ca_key = NewKey(), node_key = NewKey(), op_key = NewKey();
  if (!ca_key.ok()) return ca_key.status();
  if (!node_key.ok()) return node_key.status();
  if (!op_key.ok()) return op_key.status();
  auto ca = MakeCert("AMI node-local CA (" + node_id + ")", ca_key->get(), nullptr, nullptr, true);
  if (!ca.ok()) return ca.status();
  auto node = MakeCert(node_id, node_key->get(), ca->get(), ca_key->get(), false);
  if (!node.ok()) return node.status();
  auto op = MakeCert("operator@" + node_id, op_key->get(), ca->get(), ca_key->get(), false);
  if (!op.ok()) return op.status();
  // The CA key is not written: nothing needs to sign again, and a stolen directory then
  // cannot mint more certificates.
  for (Status s : {WriteCert(tmp / "ca.pem", ca->get()), WriteCert(tmp / "node.pem", node->get()),
                   WriteKey(tmp / "node.key", node_key->get()), WriteCert(tmp / "operator.pem", op->get()),
                   WriteKey(tmp / "operator.key", op_key->get())})
    if (!s.ok()) return s;
  fs::remove_all(dir, ec);  // an incomplete leftover
  fs::rename(tmp, dir, ec);
  if (ec) return Status::IOError("cannot rename " + tmp.string() + " to " + dir.string() + ": " + ec.message());
  return Status::OK();
}

Status CheckTlsFiles(const TlsFiles& files) {
  auto ca = ReadPem<CertPtr>(files.ca_file, "certificate",
                             [](BIO* b) { return PEM_read_bio_X509(b, nullptr, nullptr, nullptr); });
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem<CertPtr>(files.cert_file, "certificate",
                               [](BIO* b) { return PEM_read_bio_X509(b, nullptr, nullptr, nullptr); });
  if (!cert.ok()) return cert.status();
  auto key = ReadPem<KeyPtr>(files.key_file, "private key",
                             [](BIO* b) { return PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr); });
  if (!key.ok()) return key.status();
  const bool matches = X509_check_private_key(cert->get(), key->get()) == 1;
  EVP_PKEY* ca_public = X509_get0_pubkey(ca->get());
  const bool signed_by_ca = ca_public && X509_verify(cert->get(), ca_public) == 1;
  ERR_clear_error();  // the reasons below say it better than OpenSSL's codes
  if (!matches)
    return Status::InvalidArgument(files.key_file.string() + ": does not match the certificate " +
                                   files.cert_file.string());
  if (!signed_by_ca)
    return Status::InvalidArgument(files.cert_file.string() + ": is not signed by the CA in " + files.ca_file.string());
  return Status::OK();
}

}  // namespace ami::transport
