/*
 * pool_file.cc -- opening, creating, locking, mapping and closing a pool file
 */
#include "pool_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "persist.h"

namespace rpmem {

namespace {

/*
 * Owns a descriptor while a pool is being set up. If setup fails it closes the descriptor and,
 * when this open created the file, unlinks it: a failed create leaves nothing behind.
 */
class SetupGuard {
 public:
  SetupGuard(int fd, const OpenOptions& options) : fd_(fd), options_(options) {}
  /* ~SetupGuard -- undoes a setup that did not reach Release */
  ~SetupGuard() {
    if (fd_ < 0) return;
    if (options_.create) unlink(options_.path.c_str());
    close(fd_);
  }
  SetupGuard(const SetupGuard&) = delete;
  SetupGuard& operator=(const SetupGuard&) = delete;

  /* Release -- setup succeeded; the caller owns the descriptor now */
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
  const OpenOptions& options_;
};

/* OpenDescriptor -- open(2) for create (O_EXCL), read-write or read-only */
Status OpenDescriptor(const OpenOptions& options, int* fd) {
  int flags = O_CLOEXEC;
  if (options.create) {
    flags |= O_RDWR | O_CREAT | O_EXCL;
  } else {
    flags |= options.read_only ? O_RDONLY : O_RDWR;
  }
  *fd = open(options.path.c_str(), flags, 0600);
  if (*fd >= 0) return Status{};
  int err = errno;
  const char* code = err == EEXIST ? code::kExists : err == ENOENT ? code::kNoPool : code::kIo;
  return FailErrno(code, err,
                   std::string(options.create ? "cannot create pool file " : "cannot open pool file ") +
                       options.path);
}

/* Lock -- flock without waiting: exclusive for a writer, shared for a reader */
Status Lock(int fd, const OpenOptions& options) {
  if (flock(fd, (options.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0) return Status{};
  int err = errno;
  if (err == EWOULDBLOCK) {
    return FailErrno(code::kBusy, err,
                     "pool file " + options.path + " is locked by another process (or another mapping)");
  }
  return FailErrno(code::kIo, err, "cannot lock pool file " + options.path);
}

/* Allocate -- reserves every block up front, so stores through the mapping can never SIGBUS on a hole */
Status Allocate(int fd, const OpenOptions& options) {
  int err;
  do {
    err = posix_fallocate(fd, 0, static_cast<off_t>(options.size));
  } while (err == EINTR);
  if (err == 0) return Status{};
  const char* code = err == ENOSPC || err == EFBIG ? code::kLimit : code::kIo;
  return FailErrno(code, err,
                   "cannot allocate " + std::to_string(options.size) + " bytes for pool file " + options.path);
}

/* FileSize -- the size of a regular, non-empty pool file */
Status FileSize(int fd, const OpenOptions& options, uint64_t* size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return FailErrno(code::kIo, errno, "cannot stat pool file " + options.path);
  if (!S_ISREG(st.st_mode)) return Fail(code::kInvalidArgument, options.path + " is not a regular file");
  if (st.st_size == 0) return Fail(code::kInvalidArgument, "pool file " + options.path + " is empty");
  *size = static_cast<uint64_t>(st.st_size);
  return Status{};
}

/*
 * Map -- maps the whole file shared; MAP_SYNC first, which only a DAX file accepts and which
 * makes CPU cache flushes sufficient for durability (is_pmem)
 */
Status Map(int fd, const OpenOptions& options, uint64_t size, uint8_t** base, bool* is_pmem) {
  int prot = options.read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  void* addr = mmap(nullptr, size, prot, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
  *is_pmem = addr != MAP_FAILED;
  if (!*is_pmem) {
    if (errno != EOPNOTSUPP && errno != EINVAL) {
      return FailErrno(code::kIo, errno, "cannot map pool file " + options.path);
    }
    addr = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) return FailErrno(code::kIo, errno, "cannot map pool file " + options.path);
  }
  *base = static_cast<uint8_t*>(addr);
  return Status{};
}

/* ResolveGranularity -- an explicit request wins (cache-line on page cache emulates pmem) */
Granularity ResolveGranularity(GranularityRequest request, bool is_pmem) {
  switch (request) {
    case GranularityRequest::kCacheLine:
      return Granularity::kCacheLine;
    case GranularityRequest::kPage:
      return Granularity::kPage;
    case GranularityRequest::kAuto:
      break;
  }
  return is_pmem ? Granularity::kCacheLine : Granularity::kPage;
}

}  // namespace

/* Open -- opens or creates, locks and maps a pool file */
Status PoolFile::Open(const OpenOptions& options, std::shared_ptr<PoolFile>* out) {
  int fd;
  Status status = OpenDescriptor(options, &fd);
  if (!status.ok()) return status;
  SetupGuard guard(fd, options);

  status = Lock(fd, options);
  if (status.ok() && options.create) status = Allocate(fd, options);
  uint64_t size = 0;
  if (status.ok()) status = FileSize(fd, options, &size);
  uint8_t* base = nullptr;
  bool is_pmem = false;
  if (status.ok()) status = Map(fd, options, size, &base, &is_pmem);
  if (!status.ok()) return status;

  auto region = std::make_shared<MappedRegion>(base, size);
  PoolInfo info{options.path, size, ResolveGranularity(options.granularity, is_pmem), is_pmem,
                options.read_only};
  const PersistOps* ops = &PersistOpsFor(info.granularity, options.record);
  std::shared_ptr<Recording> recording;
  if (options.record) {
    /* the images a recording yields start from the file as it is now */
    recording = std::make_shared<Recording>();
    recording->Add(EventKind::kSnapshot, 0, size, base);
  }
  out->reset(new PoolFile(std::move(info), fd, std::move(region), ops, std::move(recording)));
  guard.Release();
  return Status{};
}

/* PoolFile -- adopts a set-up descriptor and mapping */
PoolFile::PoolFile(PoolInfo info, int fd, std::shared_ptr<MappedRegion> region, const PersistOps* ops,
                   std::shared_ptr<Recording> recording)
    : info_(std::move(info)), fd_(fd), region_(std::move(region)), ops_(ops), recording_(std::move(recording)) {}

/* ~PoolFile -- detaches the mapping from the file, then unlocks and closes it */
PoolFile::~PoolFile() {
  /* the mapping holds its own reference to the open file, so detach before unlocking */
  region_->Detach();
  flock(fd_, LOCK_UN);
  close(fd_);
}

/* CheckRange -- OUT_OF_RANGE unless [offset, offset+length) lies inside the file */
Status PoolFile::CheckRange(uint64_t offset, uint64_t length) const {
  if (Contains(offset, length)) return Status{};
  return Fail(code::kOutOfRange, "range at offset " + std::to_string(offset) + " of length " +
                                     std::to_string(length) + " is outside pool file " + info_.path + " (" +
                                     std::to_string(info_.size) + " bytes)");
}

/* CheckWritable -- refuses writes and persists on a read-only or failed pool */
Status PoolFile::CheckWritable() const {
  if (info_.read_only) {
    return Fail(code::kInvalidArgument, "pool file " + info_.path + " is mapped read-only; writes are refused");
  }
  if (failed()) {
    return Fail(code::kFailed,
                "an earlier flush or sync of pool file " + info_.path + " failed; reopen the pool");
  }
  return Status{};
}

/* WriteBatch -- copies the plan's ranges in and makes them durable, by this pool's granularity */
Status PoolFile::WriteBatch(const WritePlan& plan) {
  /* checked again here, at the write: an earlier batch may have failed since the caller checked;
   * a Status is built only to refuse, as its 48 B of stores would queue behind the last batch's fence */
  if (!Writable()) return CheckWritable();
  return ops_->write_batch(*this, plan);
}

/* Persist -- makes a range stored through the mapping durable, by this pool's granularity */
Status PoolFile::Persist(uint64_t offset, uint64_t length, bool deep) {
  if (!Writable()) return CheckWritable();
  return ops_->persist(*this, offset, length, deep);
}

}  // namespace rpmem
