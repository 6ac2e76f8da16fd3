;; Hand-written wasm SIMD kernels that run on the tfjs wasm backend's own heap (its memory is imported), so no
;; data is copied in or out. Built into kernels-wasm.ts by `npm run build:wasm`; test/engine-fused.test.ts
;; checks the built bytes against this source and every result against the cpu backend.
(module
  (import "env" "memory" (memory 0))

  ;; Filter gradient of a first-layer conv on one grey channel ('same' padding, stride 1):
  ;;   out[a, b, o] = Σ_{n, i, j} xpad[n, i + a, j + b] · dz[n, i, j, o]
  ;; xpad: [n, h + k − 1, w + k − 1] f32, the images zero-padded; dz: [n, h, w, filters] f32 with filters a
  ;; multiple of 16; out: [k, k, filters] f32. All pointers are byte offsets. For each tap and each block of 16
  ;; filters, four f32x4 accumulators stay in locals for the whole sweep over the pixels.
  (func (export "conv1FilterGrad")
    (param $xpad i32) (param $dz i32) (param $out i32)
    (param $n i32) (param $h i32) (param $w i32) (param $filters i32) (param $k i32)
    (local $a i32) (local $b i32) (local $block i32) (local $img i32) (local $i i32) (local $j i32)
    (local $paddedW i32) (local $paddedPlane i32) (local $xrow i32) (local $dzp i32) (local $dzRowBytes i32)
    (local $s v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $o i32)
    (local.set $paddedW (i32.sub (i32.add (local.get $w) (local.get $k)) (i32.const 1)))
    (local.set $paddedPlane (i32.mul (local.get $paddedW) (i32.sub (i32.add (local.get $h) (local.get $k)) (i32.const 1))))
    (local.set $dzRowBytes (i32.shl (local.get $filters) (i32.const 2)))
    (local.set $a (i32.const 0))
    (block $doneA (loop $loopA
      (br_if $doneA (i32.ge_u (local.get $a) (local.get $k)))
      (local.set $b (i32.const 0))
      (block $doneB (loop $loopB
        (br_if $doneB (i32.ge_u (local.get $b) (local.get $k)))
        (local.set $block (i32.const 0))
        (block $doneBlock (loop $loopBlock
          (br_if $doneBlock (i32.ge_u (local.get $block) (local.get $filters)))
          (local.set $acc0 (v128.const i32x4 0 0 0 0))
          (local.set $acc1 (v128.const i32x4 0 0 0 0))
          (local.set $acc2 (v128.const i32x4 0 0 0 0))
          (local.set $acc3 (v128.const i32x4 0 0 0 0))
          ;; dz pointer for pixel (0, 0, 0), this block of filters
          (local.set $dzp (i32.add (local.get $dz) (i32.shl (local.get $block) (i32.const 2))))
          (local.set $img (i32.const 0))
          (block $doneImg (loop $loopImg
            (br_if $doneImg (i32.ge_u (local.get $img) (local.get $n)))
            (local.set $i (i32.const 0))
            (block $doneI (loop $loopI
              (br_if $doneI (i32.ge_u (local.get $i) (local.get $h)))
              ;; byte offset of xpad[img, i + a, b]
              (local.set $xrow
                (i32.add (local.get $xpad)
                  (i32.shl
                    (i32.add
                      (i32.add (i32.mul (local.get $img) (local.get $paddedPlane))
                               (i32.mul (i32.add (local.get $i) (local.get $a)) (local.get $paddedW)))
                      (local.get $b))
                    (i32.const 2))))
              (local.set $j (i32.const 0))
              (block $doneJ (loop $loopJ
                (br_if $doneJ (i32.ge_u (local.get $j) (local.get $w)))
                (local.set $s (v128.load32_splat (local.get $xrow)))
                (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $dzp)))))
                (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $dzp)))))
                (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $dzp)))))
                (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $dzp)))))
                (local.set $xrow (i32.add (local.get $xrow) (i32.const 4)))
                (local.set $dzp (i32.add (local.get $dzp) (local.get $dzRowBytes)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $loopJ)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $loopI)))
            (local.set $img (i32.add (local.get $img) (i32.const 1)))
            (br $loopImg)))
          ;; out[a, b, block .. block + 16)
          (local.set $o
            (i32.add (local.get $out)
              (i32.shl
                (i32.add (i32.mul (i32.add (i32.mul (local.get $a) (local.get $k)) (local.get $b)) (local.get $filters))
                         (local.get $block))
                (i32.const 2))))
          (v128.store offset=0 (local.get $o) (local.get $acc0))
          (v128.store offset=16 (local.get $o) (local.get $acc1))
          (v128.store offset=32 (local.get $o) (local.get $acc2))
          (v128.store offset=48 (local.get $o) (local.get $acc3))
          (local.set $block (i32.add (local.get $block) (i32.const 16)))
          (br $loopBlock)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $loopB)))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (br $loopA)))
  )
)
