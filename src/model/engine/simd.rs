//! Four `f32` lanes: wasm's 128-bit SIMD in the browser, SSE on x86-64, a plain array
//! elsewhere. The kernels are written once against this.
//!
//! Loads and stores take a slice and an index and check nothing in release builds: each
//! kernel asserts, once, that every index it will use is in bounds (the comments at each
//! call say why), which keeps the bounds tests out of the inner loops.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F4(v128);

    impl F4 {
        #[inline(always)]
        pub fn splat(x: f32) -> F4 {
            F4(f32x4_splat(x))
        }
        /// # Safety
        /// `at + 4 <= s.len()`.
        #[inline(always)]
        pub unsafe fn load(s: &[f32], at: usize) -> F4 {
            debug_assert!(at + 4 <= s.len());
            F4(v128_load(s.as_ptr().add(at) as *const v128))
        }
        /// `s[at]` in every lane.
        ///
        /// # Safety
        /// `at < s.len()`.
        #[inline(always)]
        pub unsafe fn load_splat(s: &[f32], at: usize) -> F4 {
            debug_assert!(at < s.len());
            F4(v128_load32_splat(s.as_ptr().add(at) as *const u32))
        }
        /// Lanes `at, at + 2, at + 4, at + 6` (stride-2 windows).
        ///
        /// # Safety
        /// `at + 8 <= s.len()`.
        #[inline(always)]
        pub unsafe fn load_even(s: &[f32], at: usize) -> F4 {
            debug_assert!(at + 8 <= s.len());
            let a = v128_load(s.as_ptr().add(at) as *const v128);
            let b = v128_load(s.as_ptr().add(at + 4) as *const v128);
            F4(i32x4_shuffle::<0, 2, 4, 6>(a, b))
        }
        /// # Safety
        /// `at + 4 <= s.len()`.
        #[inline(always)]
        pub unsafe fn store(self, s: &mut [f32], at: usize) {
            debug_assert!(at + 4 <= s.len());
            v128_store(s.as_mut_ptr().add(at) as *mut v128, self.0)
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn mul(self, o: F4) -> F4 {
            F4(f32x4_mul(self.0, o.0))
        }
        /// Lane-wise maximum (`pmax`: `self < o ? o : self`).
        #[inline(always)]
        pub fn max(self, o: F4) -> F4 {
            F4(f32x4_pmax(self.0, o.0))
        }
        /// Lane-wise minimum (`pmin`: `o < self ? o : self`).
        #[inline(always)]
        pub fn min(self, o: F4) -> F4 {
            F4(f32x4_pmin(self.0, o.0))
        }
        /// `self + a · b`: one fused instruction where relaxed SIMD is enabled
        /// (`LIVEFORM_RELAXED_SIMD=1`), a multiply and an add otherwise.
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            #[cfg(target_feature = "relaxed-simd")]
            return F4(f32x4_relaxed_madd(a.0, b.0, self.0));
            #[cfg(not(target_feature = "relaxed-simd"))]
            F4(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
        }
        /// Clamps to `[lo, hi]` (`pmax`/`pmin`: one instruction each, and no NaN can
        /// come out of a model whose inputs are finite).
        #[inline(always)]
        pub fn clamp(self, lo: F4, hi: F4) -> F4 {
            F4(f32x4_pmin(hi.0, f32x4_pmax(lo.0, self.0)))
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            [
                f32x4_extract_lane::<0>(self.0),
                f32x4_extract_lane::<1>(self.0),
                f32x4_extract_lane::<2>(self.0),
                f32x4_extract_lane::<3>(self.0),
            ]
        }
    }
}

/// x86-64 (the backend's machines, the tests): SSE, which every x86-64 has.
#[cfg(target_arch = "x86_64")]
mod imp {
    use core::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub struct F4(__m128);

    impl F4 {
        #[inline(always)]
        pub fn splat(x: f32) -> F4 {
            // SAFETY: SSE is part of x86-64.
            F4(unsafe { _mm_set1_ps(x) })
        }
        /// # Safety
        /// `at + 4 <= s.len()`.
        #[inline(always)]
        pub unsafe fn load(s: &[f32], at: usize) -> F4 {
            debug_assert!(at + 4 <= s.len());
            F4(_mm_loadu_ps(s.as_ptr().add(at)))
        }
        /// # Safety
        /// `at < s.len()`.
        #[inline(always)]
        pub unsafe fn load_splat(s: &[f32], at: usize) -> F4 {
            debug_assert!(at < s.len());
            F4(_mm_set1_ps(*s.as_ptr().add(at)))
        }
        /// # Safety
        /// `at + 8 <= s.len()`.
        #[inline(always)]
        pub unsafe fn load_even(s: &[f32], at: usize) -> F4 {
            debug_assert!(at + 8 <= s.len());
            let a = _mm_loadu_ps(s.as_ptr().add(at));
            let b = _mm_loadu_ps(s.as_ptr().add(at + 4));
            F4(_mm_shuffle_ps::<0b10_00_10_00>(a, b))
        }
        /// # Safety
        /// `at + 4 <= s.len()`.
        #[inline(always)]
        pub unsafe fn store(self, s: &mut [f32], at: usize) {
            debug_assert!(at + 4 <= s.len());
            _mm_storeu_ps(s.as_mut_ptr().add(at), self.0)
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            // SAFETY (here and below): SSE is part of x86-64.
            F4(unsafe { _mm_add_ps(self.0, o.0) })
        }
        #[inline(always)]
        pub fn mul(self, o: F4) -> F4 {
            F4(unsafe { _mm_mul_ps(self.0, o.0) })
        }
        /// `self < o ? o : self`, as wasm's `pmax`.
        #[inline(always)]
        pub fn max(self, o: F4) -> F4 {
            F4(unsafe { _mm_max_ps(o.0, self.0) })
        }
        /// `o < self ? o : self`, as wasm's `pmin`.
        #[inline(always)]
        pub fn min(self, o: F4) -> F4 {
            F4(unsafe { _mm_min_ps(o.0, self.0) })
        }
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            self.add(a.mul(b))
        }
        #[inline(always)]
        pub fn clamp(self, lo: F4, hi: F4) -> F4 {
            self.max(lo).min(hi)
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            let mut out = [0.0; 4];
            // SAFETY: out holds 4 floats.
            unsafe { _mm_storeu_ps(out.as_mut_ptr(), self.0) };
            out
        }
    }
}

/// Elsewhere: plain arrays.
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
mod imp {
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn splat(x: f32) -> F4 {
            F4([x; 4])
        }
        /// # Safety
        /// `at + 4 <= s.len()`.
        #[inline(always)]
        pub unsafe fn load(s: &[f32], at: usize) -> F4 {
            debug_assert!(at + 4 <= s.len());
            F4(*(s.as_ptr().add(at) as *const [f32; 4]))
        }
        /// # Safety
        /// `at < s.len()`.
        #[inline(always)]
        pub unsafe fn load_splat(s: &[f32], at: usize) -> F4 {
            debug_assert!(at < s.len());
            F4([*s.as_ptr().add(at); 4])
        }
        /// # Safety
        /// `at + 8 <= s.len()`.
        #[inline(always)]
        pub unsafe fn load_even(s: &[f32], at: usize) -> F4 {
            debug_assert!(at + 8 <= s.len());
            let p = s.as_ptr().add(at);
            F4([*p, *p.add(2), *p.add(4), *p.add(6)])
        }
        /// # Safety
        /// `at + 4 <= s.len()`.
        #[inline(always)]
        pub unsafe fn store(self, s: &mut [f32], at: usize) {
            debug_assert!(at + 4 <= s.len());
            *(s.as_mut_ptr().add(at) as *mut [f32; 4]) = self.0;
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + o.0[i]))
        }
        #[inline(always)]
        pub fn mul(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] * o.0[i]))
        }
        #[inline(always)]
        pub fn max(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| {
                if self.0[i] < o.0[i] {
                    o.0[i]
                } else {
                    self.0[i]
                }
            }))
        }
        #[inline(always)]
        pub fn min(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| {
                if o.0[i] < self.0[i] {
                    o.0[i]
                } else {
                    self.0[i]
                }
            }))
        }
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
        }
        #[inline(always)]
        pub fn clamp(self, lo: F4, hi: F4) -> F4 {
            F4(std::array::from_fn(|i| {
                let v = if lo.0[i] > self.0[i] {
                    lo.0[i]
                } else {
                    self.0[i]
                };
                if v > hi.0[i] {
                    hi.0[i]
                } else {
                    v
                }
            }))
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            self.0
        }
    }
}

pub use imp::F4;
