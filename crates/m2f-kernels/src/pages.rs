//! Large output buffers on 2 MB pages, where Linux allows it.
//!
//! A kernel's output is a fresh allocation, and glibc serves one above its mmap threshold
//! (at most 32 MB) from new anonymous memory on every call, so the first write to each 4 kB
//! page traps into the kernel: wav2vec2-base's first convolution writes 64 MB for 10 s of
//! audio, 16 000 page faults per call, taken while both cores wait on them. Advising such a
//! buffer with `MADV_HUGEPAGE` before its first write lets the kernel back it with 2 MB pages
//! (transparent huge pages, in their default `madvise` mode): 32 faults, and fewer TLB misses
//! for the products that read it next. Elsewhere, or where huge pages are off, the advice
//! does nothing and the buffer is an ordinary one.

/// Buffers smaller than this keep ordinary pages (glibc reuses its heap for those).
const MIN_BYTES: usize = 4 << 20;

/// `len` zeros, advised onto huge pages when large (the zeros come from the allocator's
/// zeroed memory, so the pages are untouched when advised).
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    let buffer = vec![0f32; len];
    advise_huge_pages(&buffer);
    buffer
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(buffer: &[f32]) {
    const HUGE_PAGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(buffer);
    if bytes < MIN_BYTES {
        return;
    }
    let start = (buffer.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
    let end = (buffer.as_ptr() as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: [start, end) lies inside `buffer`'s allocation, and the advice changes how
        // its pages are backed, never their contents. Its result is ignored on purpose: a
        // kernel without transparent huge pages refuses it, and the buffer works the same.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &[f32]) {}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_buffers_are_zero_and_writable() {
        for len in [0, 1, 1000, 3 << 20] {
            let mut buffer = super::zeroed(len);
            assert_eq!(buffer.len(), len);
            assert!(buffer.iter().all(|&v| v == 0.0));
            buffer.iter_mut().for_each(|v| *v = 1.5);
            assert!(buffer.iter().all(|&v| v == 1.5));
        }
    }
}
