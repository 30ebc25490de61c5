//! The test's global allocator: while armed, every block freed (or moved by a `realloc`) is searched for
//! the secret values of the run before it goes back to the system, and each find is recorded with the
//! block's size and, for the first few, the stack that freed it. Values known only once the run made
//! them (a login's client token) are looked for by their shape, and confirmed after the run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// [`System`], inspecting what is freed while [`arm`]ed.
pub struct Inspecting;

static ARMED: AtomicBool = AtomicBool::new(false);
static NEEDLES: OnceLock<Vec<Needle>> = OnceLock::new();
static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
static HITS: Mutex<Vec<Hit>> = Mutex::new(Vec::new());
/// Finds made while the thread was already recording one (counted, not traced).
static UNTRACED: AtomicUsize = AtomicUsize::new(0);
/// Blocks and bytes inspected, for the report.
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// Stacks captured at most this many times (capturing is slow; every find is counted anyway).
const TRACES: usize = 400;

thread_local! {
    /// Set while this thread records a find: the recording's own frees are inspected, not recorded.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

/// One secret value looked for, by the halves of its text: a copy split across two buffers (an HTTP
/// body in chunks) still leaves one half whole in one of them.
pub struct Needle {
    pub name: String,
    halves: [Vec<u8>; 2],
}

impl Needle {
    pub fn new(name: impl Into<String>, value: &[u8]) -> Needle {
        assert!(value.len() >= 24, "a needle needs at least 24 bytes");
        let mid = value.len() / 2;
        Needle {
            name: name.into(),
            halves: [value[..mid].to_vec(), value[mid..].to_vec()],
        }
    }

    fn found_in(&self, block: &[u8]) -> bool {
        self.halves.iter().any(|h| contains(block, h))
    }
}

/// A value no one knows before the run (the client token a login answers with), looked for by its
/// shape: `prefix`, then `len` letters and digits. What matched is kept with the find, for the test to
/// confirm it was the value (anything else of that shape is dropped). Unlike a [`Needle`], a copy
/// split across two buffers is found only when the first holds the prefix and the whole rest.
pub struct Shape {
    pub name: String,
    prefix: &'static [u8],
    len: usize,
}

impl Shape {
    pub fn new(name: impl Into<String>, prefix: &'static [u8], len: usize) -> Shape {
        Shape {
            name: name.into(),
            prefix,
            len,
        }
    }

    /// The first text of this shape in `block`.
    fn found_in<'a>(&self, mut block: &'a [u8]) -> Option<&'a [u8]> {
        while let Some(at) = find(block, self.prefix) {
            let text = &block[at..];
            let whole = self.prefix.len() + self.len;
            if text.len() >= whole
                && text[self.prefix.len()..whole]
                    .iter()
                    .all(u8::is_ascii_alphanumeric)
            {
                return Some(&text[..whole]);
            }
            block = &block[at + 1..];
        }
        None
    }
}

/// How the block was given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    Dealloc,
    /// The old block of a `realloc` (this allocator always moves: any allocator may).
    Moved,
}

/// A block freed holding a secret value.
pub struct Hit {
    /// The needle's index; past the needles, the shape's (after the needles).
    pub needle: usize,
    /// For a shape, the text that matched it.
    pub shaped: Option<Vec<u8>>,
    pub size: usize,
    pub how: Freed,
    pub trace: Option<Backtrace>,
}

/// Sets the values looked for (once per process).
pub fn set_needles(needles: Vec<Needle>) {
    assert!(NEEDLES.set(needles).is_ok(), "needles are set once");
}

pub fn needles() -> &'static [Needle] {
    NEEDLES.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Sets the shapes looked for (once per process).
pub fn set_shapes(shapes: Vec<Shape>) {
    assert!(SHAPES.set(shapes).is_ok(), "shapes are set once");
}

pub fn shapes() -> &'static [Shape] {
    SHAPES.get().map(Vec::as_slice).unwrap_or(&[])
}

pub fn arm() {
    ARMED.store(true, Ordering::SeqCst);
}

/// Stops inspecting; returns what was found since the last call, the finds not traced, and the blocks
/// and bytes inspected.
pub fn disarm() -> (Vec<Hit>, usize, usize, usize) {
    ARMED.store(false, Ordering::SeqCst);
    let hits = std::mem::take(&mut *HITS.lock().unwrap_or_else(|p| p.into_inner()));
    (
        hits,
        UNTRACED.swap(0, Ordering::SeqCst),
        BLOCKS.swap(0, Ordering::SeqCst),
        BYTES.swap(0, Ordering::SeqCst),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // glibc's memmem: fast on the megabytes a run frees, even in a debug build; allocates nothing.
    // SAFETY: both pointers and lengths come from live slices; memmem only reads them.
    let at = unsafe {
        libc::memmem(
            haystack.as_ptr().cast(),
            haystack.len(),
            needle.as_ptr().cast(),
            needle.len(),
        )
    };
    // SAFETY: a non-null answer points into `haystack`.
    (!at.is_null()).then(|| unsafe { at.cast::<u8>().offset_from(haystack.as_ptr()) } as usize)
}

/// Looks at a block about to be freed.
///
/// # Safety
/// `ptr` points to `size` bytes owned by the caller (a block being freed), which are overwritten.
unsafe fn inspect(ptr: *mut u8, size: usize, how: Freed) {
    // SAFETY: the block is live until the caller frees it; its bytes are read, then overwritten.
    let block = unsafe { std::slice::from_raw_parts_mut(ptr, size) };
    let needles = match NEEDLES.get() {
        Some(n) if ARMED.load(Ordering::Relaxed) && size >= 12 => n,
        // Wiped even when not looking: a block freed before a check, reused and freed during it
        // unwritten, must not show what its first owner left.
        _ => return block.fill(0),
    };
    BLOCKS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size, Ordering::Relaxed);
    let found = needles
        .iter()
        .position(|n| n.found_in(block))
        .map(|i| (i, None));
    let found = found.or_else(|| {
        shapes()
            .iter()
            .enumerate()
            .find_map(|(i, s)| Some((needles.len() + i, Some(s.found_in(block)?))))
    });
    let Some((needle, shaped)) = found else {
        // Wiped once looked at: a later owner of these bytes that frees them unwritten is not blamed
        // for what the first one left.
        return block.fill(0);
    };
    let entered = RECORDING.try_with(|r| !r.replace(true)).unwrap_or(false);
    if !entered {
        UNTRACED.fetch_add(1, Ordering::Relaxed);
        return block.fill(0);
    }
    let shaped = shaped.map(<[u8]>::to_vec);
    block.fill(0);
    let mut hits = HITS.lock().unwrap_or_else(|p| p.into_inner());
    let trace = (hits.len() < TRACES).then(Backtrace::force_capture);
    hits.push(Hit {
        needle,
        shaped,
        size,
        how,
        trace,
    });
    drop(hits);
    let _ = RECORDING.try_with(|r| r.set(false));
}

// SAFETY: every call is passed to `System` unchanged, except `realloc`, which is `alloc` + copy +
// `dealloc` as GlobalAlloc's default.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe {
            inspect(ptr, layout.size(), Freed::Dealloc);
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Always a new block, so the old one is freed with its content — what a growing buffer leaves
        // behind whenever the allocator cannot extend it in place.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                inspect(ptr, layout.size(), Freed::Moved);
                System.dealloc(ptr, layout);
            }
            new
        }
    }
}
