//! The handle pattern every object uses: an owned type that frees its C
//! object on drop and dereferences to a borrowed `...Ref` type holding the
//! methods. A `&ModelRef` is the C pointer itself (the Ref type is a
//! zero-sized view of the opaque C struct), so the library can lend out an
//! object it does not own (a layer inside a model, the model during a
//! training callback) without a second owner that could free it: swapping
//! two `&mut` refs moves zero bytes.

/// Defines `$owned` (owns a `*mut $raw`, frees it with `$free`) and
/// `$borrowed` (the view `$owned` dereferences to).
macro_rules! handle {
    ($(#[$meta:meta])* $owned:ident, $(#[$rmeta:meta])* $borrowed:ident, $raw:ident, $free:ident) => {
        $(#[$meta])*
        pub struct $owned {
            raw: std::ptr::NonNull<crate::sys::$raw>,
        }

        $(#[$rmeta])*
        #[repr(transparent)]
        pub struct $borrowed(crate::sys::$raw);

        impl $owned {
            /// Takes ownership of a non-NULL handle.
            #[allow(dead_code)]
            pub(crate) fn from_raw(raw: std::ptr::NonNull<crate::sys::$raw>) -> $owned {
                $owned { raw }
            }

            /// The C handle, still owned by `self` (for calls through `sys`).
            pub fn as_ptr(&self) -> *mut crate::sys::$raw {
                self.raw.as_ptr()
            }
        }

        impl $borrowed {
            /// A view of a C handle that outlives `'a`.
            ///
            /// # Safety
            /// `raw` must be valid for `'a` and not freed meanwhile.
            #[allow(dead_code)]
            pub(crate) unsafe fn from_ptr<'a>(raw: *const crate::sys::$raw) -> &'a $borrowed {
                &*(raw as *const $borrowed)
            }

            /// The same, mutable.
            ///
            /// # Safety
            /// As `from_ptr`, and no other view is used meanwhile.
            #[allow(dead_code)]
            pub(crate) unsafe fn from_ptr_mut<'a>(raw: *mut crate::sys::$raw) -> &'a mut $borrowed {
                &mut *(raw as *mut $borrowed)
            }

            /// The C handle, for const C functions.
            pub fn as_ptr(&self) -> *const crate::sys::$raw {
                self as *const $borrowed as *const crate::sys::$raw
            }

            /// The C handle, for C functions that change the object.
            pub fn as_mut_ptr(&mut self) -> *mut crate::sys::$raw {
                self as *mut $borrowed as *mut crate::sys::$raw
            }
        }

        impl std::ops::Deref for $owned {
            type Target = $borrowed;
            fn deref(&self) -> &$borrowed {
                // SAFETY: the handle is valid while self lives.
                unsafe { $borrowed::from_ptr(self.raw.as_ptr()) }
            }
        }

        impl std::ops::DerefMut for $owned {
            fn deref_mut(&mut self) -> &mut $borrowed {
                // SAFETY: as deref, and &mut self makes this view the only one.
                unsafe { $borrowed::from_ptr_mut(self.raw.as_ptr()) }
            }
        }

        impl Drop for $owned {
            fn drop(&mut self) {
                // SAFETY: self owns the handle; nothing uses it afterwards.
                unsafe { crate::sys::$free(self.raw.as_ptr()) }
            }
        }

        // SAFETY: bsnn objects have no thread affinity (the header: distinct
        // objects may be used from distinct threads); the error message is
        // per thread and read on the thread that failed.
        unsafe impl Send for $owned {}
        // SAFETY: as above.
        unsafe impl Send for $borrowed {}
    };
}

pub(crate) use handle;
