;; Hand-written wasm SIMD kernels that run on the tfjs wasm backend's own heap (its memory is imported), so no
;; data is copied in or out. Built into kernels-wasm.ts by `npm run build:wasm`; test/engine-simd.test.ts
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

  ;; One SGD-with-momentum step (tfjs's MomentumOptimizer, without Nesterov) over `count` weights:
  ;;   v ← momentum·v + g;  out ← w − lr·v
  ;; with momentum 0 this is plain SGD. `out` may be `w`. Pointers are byte offsets; 4 weights per iteration,
  ;; then the remainder one at a time.
  (func (export "sgdMomentum")
    (param $w i32) (param $g i32) (param $v i32) (param $out i32) (param $count i32) (param $lr f32) (param $momentum f32)
    (local $end i32) (local $vecEnd i32) (local $lr4 v128) (local $m4 v128) (local $acc v128) (local $x f32)
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (local.set $vecEnd (i32.and (local.get $end) (i32.const -16)))
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $m4 (f32x4.splat (local.get $momentum)))
    (block $doneVec (loop $loopVec
      (br_if $doneVec (i32.ge_u (i32.const 0) (local.get $vecEnd)))
      (local.set $acc
        (f32x4.add (f32x4.mul (local.get $m4) (v128.load (local.get $v))) (v128.load (local.get $g))))
      (v128.store (local.get $v) (local.get $acc))
      (v128.store (local.get $out) (f32x4.sub (v128.load (local.get $w)) (f32x4.mul (local.get $lr4) (local.get $acc))))
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $vecEnd (i32.sub (local.get $vecEnd) (i32.const 16)))
      (local.set $end (i32.sub (local.get $end) (i32.const 16)))
      (br $loopVec)))
    (block $doneTail (loop $loopTail
      (br_if $doneTail (i32.ge_u (i32.const 0) (local.get $end)))
      (local.set $x
        (f32.add (f32.mul (local.get $momentum) (f32.load (local.get $v))) (f32.load (local.get $g))))
      (f32.store (local.get $v) (local.get $x))
      (f32.store (local.get $out) (f32.sub (f32.load (local.get $w)) (f32.mul (local.get $lr) (local.get $x))))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $end (i32.sub (local.get $end) (i32.const 4)))
      (br $loopTail)))
  )

  ;; Back through a 2×2/stride-2 max-pool and the relu before it. For every window, the gradient dy goes to the
  ;; window's first maximum in row-major order (the cpu backend's rule), unless that maximum is not positive (the
  ;; relu passes nothing there); into dz [n, h, w, c] and/or dzT [c, h, w, n] (0: not wanted), both zeroed first;
  ;; bias[ch] receives the sum over all windows. x: the relu output [n, h, w, c]; pooled and dy: [n, h/2, w/2, c].
  (func (export "maxPoolReluBackward")
    (param $x i32) (param $pooled i32) (param $dy i32) (param $dz i32) (param $dzT i32) (param $bias i32)
    (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (local $img i32) (local $r i32) (local $col i32) (local $ch i32) (local $outH i32) (local $outW i32)
    (local $o i32) (local $topLeft i32) (local $tTopLeft i32) (local $at i32) (local $tAt i32)
    (local $rowStride i32) (local $tPlane i32) (local $tRow i32) (local $max f32) (local $grad f32) (local $bytes i32)
    (local.set $outH (i32.shr_u (local.get $h) (i32.const 1)))
    (local.set $outW (i32.shr_u (local.get $w) (i32.const 1)))
    (local.set $rowStride (i32.mul (local.get $w) (local.get $c)))
    (local.set $tRow (i32.mul (local.get $w) (local.get $n)))
    (local.set $tPlane (i32.mul (local.get $h) (local.get $tRow)))
    (local.set $bytes (i32.shl (i32.mul (local.get $tPlane) (local.get $c)) (i32.const 2)))
    (if (local.get $dz) (then (memory.fill (local.get $dz) (i32.const 0) (local.get $bytes))))
    (if (local.get $dzT) (then (memory.fill (local.get $dzT) (i32.const 0) (local.get $bytes))))
    (memory.fill (local.get $bias) (i32.const 0) (i32.shl (local.get $c) (i32.const 2)))
    (local.set $o (i32.const 0))
    (local.set $img (i32.const 0))
    (block $doneImg (loop $loopImg
      (br_if $doneImg (i32.ge_u (local.get $img) (local.get $n)))
      (local.set $r (i32.const 0))
      (block $doneR (loop $loopR
        (br_if $doneR (i32.ge_u (local.get $r) (local.get $outH)))
        (local.set $col (i32.const 0))
        (block $doneCol (loop $loopCol
          (br_if $doneCol (i32.ge_u (local.get $col) (local.get $outW)))
          ;; element index of x[img, 2r, 2col, 0] and of dzT[0, 2r, 2col, img]
          (local.set $topLeft
            (i32.mul
              (i32.add (i32.mul (i32.add (i32.mul (local.get $img) (local.get $h)) (i32.shl (local.get $r) (i32.const 1))) (local.get $w))
                       (i32.shl (local.get $col) (i32.const 1)))
              (local.get $c)))
          (local.set $tTopLeft
            (i32.add
              (i32.add (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $tRow))
                       (i32.mul (i32.shl (local.get $col) (i32.const 1)) (local.get $n)))
              (local.get $img)))
          (local.set $ch (i32.const 0))
          (block $doneCh (loop $loopCh
            (br_if $doneCh (i32.ge_u (local.get $ch) (local.get $c)))
            (local.set $max (f32.load (i32.add (local.get $pooled) (i32.shl (local.get $o) (i32.const 2)))))
            (if (f32.gt (local.get $max) (f32.const 0))
              (then
                (local.set $grad (f32.load (i32.add (local.get $dy) (i32.shl (local.get $o) (i32.const 2)))))
                (local.set $at (i32.add (local.get $topLeft) (local.get $ch)))
                (local.set $tAt (i32.add (local.get $tTopLeft) (i32.mul (local.get $ch) (local.get $tPlane))))
                (if (f32.ne (f32.load (i32.add (local.get $x) (i32.shl (local.get $at) (i32.const 2)))) (local.get $max))
                  (then
                    (if (f32.eq (f32.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $at) (local.get $c)) (i32.const 2)))) (local.get $max))
                      (then
                        (local.set $at (i32.add (local.get $at) (local.get $c)))
                        (local.set $tAt (i32.add (local.get $tAt) (local.get $n))))
                      (else
                        (if (f32.eq (f32.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $at) (local.get $rowStride)) (i32.const 2)))) (local.get $max))
                          (then
                            (local.set $at (i32.add (local.get $at) (local.get $rowStride)))
                            (local.set $tAt (i32.add (local.get $tAt) (local.get $tRow))))
                          (else
                            (local.set $at (i32.add (local.get $at) (i32.add (local.get $rowStride) (local.get $c))))
                            (local.set $tAt (i32.add (local.get $tAt) (i32.add (local.get $tRow) (local.get $n))))))))))
                (if (local.get $dz)
                  (then (f32.store (i32.add (local.get $dz) (i32.shl (local.get $at) (i32.const 2))) (local.get $grad))))
                (if (local.get $dzT)
                  (then (f32.store (i32.add (local.get $dzT) (i32.shl (local.get $tAt) (i32.const 2))) (local.get $grad))))
                (f32.store (i32.add (local.get $bias) (i32.shl (local.get $ch) (i32.const 2)))
                  (f32.add (f32.load (i32.add (local.get $bias) (i32.shl (local.get $ch) (i32.const 2)))) (local.get $grad)))))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
            (br $loopCh)))
          (local.set $col (i32.add (local.get $col) (i32.const 1)))
          (br $loopCol)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $loopR)))
      (local.set $img (i32.add (local.get $img) (i32.const 1)))
      (br $loopImg)))
  )
)
