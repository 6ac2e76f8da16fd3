;; Convolution and matrix-multiply kernels for the fused training step, on the tfjs wasm heap (its memory is
;; imported). Written with f32x4.relaxed_madd (relaxed SIMD's fused multiply-add, one rounding); `npm run build:wasm`
;; assembles this file twice: as it is (the "fma" build) and with every relaxed_madd spelled f32x4.mul + f32x4.add
;; (the "simd" build, for runtimes without relaxed SIMD and for tests on both paths). All pointers and strides are
;; byte offsets. Each kernel keeps a 4×8 block of outputs in eight f32x4 accumulators (locals, so registers) while
;; it walks the reduction: per step two vector loads of the 8-wide operand, four broadcast loads of the other and
;; eight multiply-adds, which leaves room in x64's sixteen xmm registers and keeps the FMA units, not the loads,
;; the limit. test/engine-conv-kernels.test.ts checks every kernel against float64 arithmetic, both builds.
(module
  (import "env" "memory" (memory 0))

  ;; 'valid' correlation of zero-padded NHWC images with a filter, stride 1:
  ;;   y[img, i, j, q] = act(bias[q] + Σ_{a<k} Σ_{t<k·c} x[img, i + a, j·c + t] · w[a·k·c + t, q])
  ;; where x[img, r, ·] is padded row r read as floats from pixel 0 (so j·c + t is pixel j + t/c, channel t%c) and
  ;; w row a·k·c + t the filter's (kh = a, kw = t/c, channel t%c). Filter row u, outputs q .. q + 8 are at
  ;; w + (q/8)·wBlock + u·wRow: [k, k, c, o] as tfjs stores it is wRow = 4o, wBlock = 32; packed in panels of 8
  ;; outputs ([o/8, k·k·c, 8], packPanels) wRow = 32, wBlock = 4·8·k·k·c, each panel contiguous and cached while
  ;; it serves every pixel of the batch. `x` points at padded pixel (0, 0) of image 0, `y` at output pixel (0, 0)
  ;; of image 0 (it may sit inside a padded buffer); rows and images are xRow/xImage and yRow/yImage bytes apart,
  ;; pixels c and o floats. `bias` 0: none. `relu` ≠ 0: max(·, 0). `o` a multiple of 8. The input gradient of a
  ;; conv is this kernel too: dz padded, the filter rotated by 180° with its channels swapped, no bias.
  ;; Pixels go in blocks of 4 taken in row-major order across row ends (a 14-pixel row leaves no remainder to do one
  ;; pixel at a time); a last, partial block recomputes the last pixel in place of the missing ones.
  (func (export "conv2d")
    (param $x i32) (param $xRow i32) (param $xImage i32)
    (param $w i32) (param $wRow i32) (param $wBlock i32) (param $bias i32)
    (param $y i32) (param $yRow i32) (param $yImage i32)
    (param $n i32) (param $h i32) (param $width i32) (param $c i32) (param $o i32) (param $k i32) (param $relu i32)
    (local $q i32) (local $img i32) (local $p i32) (local $pi i32) (local $pj i32) (local $pr i32) (local $ri i32) (local $rj i32)
    (local $hw i32) (local $a i32) (local $pixel i32) (local $yPixel i32) (local $tapBytes i32)
    (local $xImg i32) (local $yImg i32) (local $wq i32) (local $wp i32) (local $end i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $y0 i32) (local $y1 i32) (local $y2 i32) (local $y3 i32)
    (local $t0 i32) (local $t1 i32) (local $t2 i32) (local $t3 i32)
    (local $b0 v128) (local $b1 v128) (local $s v128) (local $bias0 v128) (local $bias1 v128) (local $floor v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $pixel (i32.shl (local.get $c) (i32.const 2)))
    (local.set $yPixel (i32.shl (local.get $o) (i32.const 2)))
    (local.set $tapBytes (i32.mul (local.get $k) (local.get $pixel)))
    (local.set $hw (i32.mul (local.get $h) (local.get $width)))
    ;; max(·, −∞) leaves every value (NaN included) as it is
    (local.set $floor
      (if (result v128) (local.get $relu)
        (then (v128.const i32x4 0 0 0 0))
        (else (v128.const f32x4 -inf -inf -inf -inf))))
    (local.set $q (i32.const 0))
    (block $doneQ (loop $loopQ
      (br_if $doneQ (i32.ge_u (local.get $q) (local.get $o)))
      (local.set $wq (i32.add (local.get $w) (i32.mul (i32.shr_u (local.get $q) (i32.const 3)) (local.get $wBlock))))
      (if (local.get $bias)
        (then
          (local.set $bias0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $q) (i32.const 2)))))
          (local.set $bias1 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $q) (i32.const 2))))))
        (else
          (local.set $bias0 (v128.const i32x4 0 0 0 0))
          (local.set $bias1 (v128.const i32x4 0 0 0 0))))
      (local.set $img (i32.const 0))
      (block $doneImg (loop $loopImg
        (br_if $doneImg (i32.ge_u (local.get $img) (local.get $n)))
        (local.set $xImg (i32.add (local.get $x) (i32.mul (local.get $img) (local.get $xImage))))
        (local.set $yImg (i32.add (i32.add (local.get $y) (i32.mul (local.get $img) (local.get $yImage))) (i32.shl (local.get $q) (i32.const 2))))
        ;; block of pixels p .. p + 3; pixel p is (pi, pj)
        (local.set $p (i32.const 0))
        (local.set $pi (i32.const 0))
        (local.set $pj (i32.const 0))
        (block $doneP (loop $loopP
          (br_if $doneP (i32.ge_u (local.get $p) (local.get $hw)))
          (local.set $x0 (i32.add (local.get $xImg) (i32.add (i32.mul (local.get $pi) (local.get $xRow)) (i32.mul (local.get $pj) (local.get $pixel)))))
          (local.set $y0 (i32.add (local.get $yImg) (i32.add (i32.mul (local.get $pi) (local.get $yRow)) (i32.mul (local.get $pj) (local.get $yPixel)))))
          (if (i32.lt_u (i32.add (local.get $pj) (i32.const 1)) (local.get $width))
            (then
              (local.set $x1 (i32.add (local.get $x0) (i32.mul (local.get $pixel) (i32.const 1))))
              (local.set $y1 (i32.add (local.get $y0) (i32.mul (local.get $yPixel) (i32.const 1)))))
            (else
              ;; past the row's end: pixel p + 1 of the image (the last one for a last, partial block)
              (local.set $pr (select (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $hw) (i32.const 1))
                                     (i32.lt_u (i32.add (local.get $p) (i32.const 1)) (local.get $hw))))
              (local.set $ri (i32.div_u (local.get $pr) (local.get $width)))
              (local.set $rj (i32.sub (local.get $pr) (i32.mul (local.get $ri) (local.get $width))))
              (local.set $x1 (i32.add (local.get $xImg) (i32.add (i32.mul (local.get $ri) (local.get $xRow)) (i32.mul (local.get $rj) (local.get $pixel)))))
              (local.set $y1 (i32.add (local.get $yImg) (i32.add (i32.mul (local.get $ri) (local.get $yRow)) (i32.mul (local.get $rj) (local.get $yPixel)))))))
          (if (i32.lt_u (i32.add (local.get $pj) (i32.const 2)) (local.get $width))
            (then
              (local.set $x2 (i32.add (local.get $x0) (i32.mul (local.get $pixel) (i32.const 2))))
              (local.set $y2 (i32.add (local.get $y0) (i32.mul (local.get $yPixel) (i32.const 2)))))
            (else
              ;; past the row's end: pixel p + 2 of the image (the last one for a last, partial block)
              (local.set $pr (select (i32.add (local.get $p) (i32.const 2)) (i32.sub (local.get $hw) (i32.const 1))
                                     (i32.lt_u (i32.add (local.get $p) (i32.const 2)) (local.get $hw))))
              (local.set $ri (i32.div_u (local.get $pr) (local.get $width)))
              (local.set $rj (i32.sub (local.get $pr) (i32.mul (local.get $ri) (local.get $width))))
              (local.set $x2 (i32.add (local.get $xImg) (i32.add (i32.mul (local.get $ri) (local.get $xRow)) (i32.mul (local.get $rj) (local.get $pixel)))))
              (local.set $y2 (i32.add (local.get $yImg) (i32.add (i32.mul (local.get $ri) (local.get $yRow)) (i32.mul (local.get $rj) (local.get $yPixel)))))))
          (if (i32.lt_u (i32.add (local.get $pj) (i32.const 3)) (local.get $width))
            (then
              (local.set $x3 (i32.add (local.get $x0) (i32.mul (local.get $pixel) (i32.const 3))))
              (local.set $y3 (i32.add (local.get $y0) (i32.mul (local.get $yPixel) (i32.const 3)))))
            (else
              ;; past the row's end: pixel p + 3 of the image (the last one for a last, partial block)
              (local.set $pr (select (i32.add (local.get $p) (i32.const 3)) (i32.sub (local.get $hw) (i32.const 1))
                                     (i32.lt_u (i32.add (local.get $p) (i32.const 3)) (local.get $hw))))
              (local.set $ri (i32.div_u (local.get $pr) (local.get $width)))
              (local.set $rj (i32.sub (local.get $pr) (i32.mul (local.get $ri) (local.get $width))))
              (local.set $x3 (i32.add (local.get $xImg) (i32.add (i32.mul (local.get $ri) (local.get $xRow)) (i32.mul (local.get $rj) (local.get $pixel)))))
              (local.set $y3 (i32.add (local.get $yImg) (i32.add (i32.mul (local.get $ri) (local.get $yRow)) (i32.mul (local.get $rj) (local.get $yPixel)))))))
          (local.set $c00 (local.get $bias0)) (local.set $c01 (local.get $bias1))
          (local.set $c10 (local.get $bias0)) (local.set $c11 (local.get $bias1))
          (local.set $c20 (local.get $bias0)) (local.set $c21 (local.get $bias1))
          (local.set $c30 (local.get $bias0)) (local.set $c31 (local.get $bias1))
          (local.set $wp (local.get $wq))
          (local.set $a (i32.const 0))
          (block $doneA (loop $loopA
            (br_if $doneA (i32.ge_u (local.get $a) (local.get $k)))
            ;; padded row i + a of each pixel's window: k·c consecutive floats from the pixel on
            (local.set $t0 (local.get $x0))
            (local.set $t1 (local.get $x1))
            (local.set $t2 (local.get $x2))
            (local.set $t3 (local.get $x3))
            (local.set $end (i32.add (local.get $x0) (local.get $tapBytes)))
            (loop $loopT
              (local.set $b0 (v128.load (local.get $wp)))
              (local.set $b1 (v128.load offset=16 (local.get $wp)))
                (local.set $s (v128.load32_splat (local.get $t0)))
                (local.set $c00 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c00)))
                (local.set $c01 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c01)))
                (local.set $s (v128.load32_splat (local.get $t1)))
                (local.set $c10 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c10)))
                (local.set $c11 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c11)))
                (local.set $s (v128.load32_splat (local.get $t2)))
                (local.set $c20 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c20)))
                (local.set $c21 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c21)))
                (local.set $s (v128.load32_splat (local.get $t3)))
                (local.set $c30 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c30)))
                (local.set $c31 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c31)))
              (local.set $t0 (i32.add (local.get $t0) (i32.const 4)))
              (local.set $t1 (i32.add (local.get $t1) (i32.const 4)))
              (local.set $t2 (i32.add (local.get $t2) (i32.const 4)))
              (local.set $t3 (i32.add (local.get $t3) (i32.const 4)))
              (local.set $wp (i32.add (local.get $wp) (local.get $wRow)))
              (br_if $loopT (i32.lt_u (local.get $t0) (local.get $end))))
            (local.set $x0 (i32.add (local.get $x0) (local.get $xRow)))
            (local.set $x1 (i32.add (local.get $x1) (local.get $xRow)))
            (local.set $x2 (i32.add (local.get $x2) (local.get $xRow)))
            (local.set $x3 (i32.add (local.get $x3) (local.get $xRow)))
            (local.set $a (i32.add (local.get $a) (i32.const 1)))
            (br $loopA)))
          (v128.store (local.get $y0) (f32x4.max (local.get $c00) (local.get $floor)))
            (v128.store offset=16 (local.get $y0) (f32x4.max (local.get $c01) (local.get $floor)))
          (if (i32.lt_u (i32.add (local.get $p) (i32.const 1)) (local.get $hw))
            (then
              (v128.store (local.get $y1) (f32x4.max (local.get $c10) (local.get $floor)))
            (v128.store offset=16 (local.get $y1) (f32x4.max (local.get $c11) (local.get $floor)))))
          (if (i32.lt_u (i32.add (local.get $p) (i32.const 2)) (local.get $hw))
            (then
              (v128.store (local.get $y2) (f32x4.max (local.get $c20) (local.get $floor)))
            (v128.store offset=16 (local.get $y2) (f32x4.max (local.get $c21) (local.get $floor)))))
          (if (i32.lt_u (i32.add (local.get $p) (i32.const 3)) (local.get $hw))
            (then
              (v128.store (local.get $y3) (f32x4.max (local.get $c30) (local.get $floor)))
            (v128.store offset=16 (local.get $y3) (f32x4.max (local.get $c31) (local.get $floor)))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $pj (i32.add (local.get $pj) (i32.const 4)))
          (block $inRow (loop $nextRow
            (br_if $inRow (i32.lt_u (local.get $pj) (local.get $width)))
            (local.set $pj (i32.sub (local.get $pj) (local.get $width)))
            (local.set $pi (i32.add (local.get $pi) (i32.const 1)))
            (br $nextRow)))
          (br $loopP)))
        (local.set $img (i32.add (local.get $img) (i32.const 1)))
        (br $loopImg)))
      (local.set $q (i32.add (local.get $q) (i32.const 8)))
      (br $loopQ)))
  )

  ;; Copies a [rows, o] matrix (o a multiple of 8) into panels of 8 columns, [o/8, rows, 8]: the filter layout
  ;; conv2d reads fastest (wRow = 32, wBlock = 32·rows).
  (func (export "packPanels") (param $src i32) (param $dst i32) (param $rows i32) (param $o i32)
    (local $q i32) (local $sp i32) (local $end i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $o) (i32.const 2)))
    (local.set $q (i32.const 0))
    (block $doneQ (loop $loopQ
      (br_if $doneQ (i32.ge_u (local.get $q) (local.get $o)))
      (local.set $sp (i32.add (local.get $src) (i32.shl (local.get $q) (i32.const 2))))
      (local.set $end (i32.add (local.get $sp) (i32.mul (local.get $rows) (local.get $rowBytes))))
      (block $doneR (loop $loopR
        (br_if $doneR (i32.ge_u (local.get $sp) (local.get $end)))
        (v128.store (local.get $dst) (v128.load (local.get $sp)))
        (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $sp)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (local.set $sp (i32.add (local.get $sp) (local.get $rowBytes)))
        (br $loopR)))
      (local.set $q (i32.add (local.get $q) (i32.const 8)))
      (br $loopQ)))
  )

  ;; Filter gradient of conv2d, added to what `dw` holds (zero it first):
  ;;   dw[u, q] += Σ_{img, i, j} x[img, i + a, j·c + t] · dz[img, i, j, q]     u = a·k·c + t < k·k·c, q < o
  ;; x as in conv2d (padded, row and image strides given); dz[img, i, j, q .. q + 8) at dz + img·dzImage + i·dzRow +
  ;; j·dzPixel + (q/8)·dzBlock: NHWC (dzPixel = 4o, dzBlock = 32, possibly inside a padded buffer) or, faster, in
  ;; panels of 8 channels ([n, o/8, h·w, 8]: dzPixel = 32, dzBlock = 32·h·w), which poolReluBackward writes: NHWC
  ;; strides of 128 or 256 bytes crowd a few L1 cache sets and cost ~30 %. dw is [k, k, c, o]. Image by image, by blocks of 8 outputs, by
  ;; slices of rows whose padded input takes ~16 KB (so the slice's x and dz stay in the L1 cache across the whole
  ;; filter), then 4 filter rows u at a time, each a fixed offset into the padded image; a last, partial block of
  ;; filter rows reads the last one in place of the missing ones and stores only the real ones (with one input
  ;; channel a 5×5 filter is 25 rows: 7 blocks, not 5 blocks of 5 rows rounded up to 8).
  (func (export "conv2dFilterGrad")
    (param $x i32) (param $xRow i32) (param $xImage i32)
    (param $dz i32) (param $dzPixel i32) (param $dzRow i32) (param $dzImage i32) (param $dzBlock i32)
    (param $dw i32)
    (param $n i32) (param $h i32) (param $width i32) (param $c i32) (param $o i32) (param $k i32)
    (local $img i32) (local $q i32) (local $u i32) (local $a i32) (local $t i32) (local $ra i32) (local $rt i32) (local $i i32)
    (local $kc i32) (local $rows i32) (local $pixel i32) (local $outRow i32)
    (local $off0 i32) (local $off1 i32) (local $off2 i32) (local $off3 i32) (local $d1 i32) (local $d2 i32) (local $d3 i32)
    (local $xp i32) (local $dzp i32) (local $dzEnd i32) (local $out i32) (local $xImg i32) (local $dzImg i32)
    (local $slice i32) (local $i0 i32) (local $iEnd i32) (local $last i32)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $kc (i32.mul (local.get $k) (local.get $c)))
    (local.set $rows (i32.mul (local.get $k) (local.get $kc)))
    (local.set $pixel (i32.shl (local.get $c) (i32.const 2)))
    (local.set $outRow (i32.shl (local.get $o) (i32.const 2)))
    (local.set $slice (i32.sub (i32.div_u (i32.const 16384) (local.get $xRow)) (i32.sub (local.get $k) (i32.const 1))))
    (if (i32.lt_s (local.get $slice) (i32.const 1)) (then (local.set $slice (i32.const 1))))
    (local.set $img (i32.const 0))
    (block $doneImg (loop $loopImg
      (br_if $doneImg (i32.ge_u (local.get $img) (local.get $n)))
      (local.set $xImg (i32.add (local.get $x) (i32.mul (local.get $img) (local.get $xImage))))
      (local.set $dzImg (i32.add (local.get $dz) (i32.mul (local.get $img) (local.get $dzImage))))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $loopQ
        (br_if $doneQ (i32.ge_u (local.get $q) (local.get $o)))
        (local.set $i0 (i32.const 0))
        (block $doneSlice (loop $loopSlice
        (br_if $doneSlice (i32.ge_u (local.get $i0) (local.get $h)))
        (local.set $iEnd (select (i32.add (local.get $i0) (local.get $slice)) (local.get $h)
                                 (i32.lt_u (i32.add (local.get $i0) (local.get $slice)) (local.get $h))))
        ;; rows u .. u + 3; row u is (a, t)
        (local.set $u (i32.const 0))
        (local.set $a (i32.const 0))
        (local.set $t (i32.const 0))
        (block $doneU (loop $loopU
          (br_if $doneU (i32.ge_u (local.get $u) (local.get $rows)))
            (local.set $ra (local.get $a))
            (local.set $rt (i32.add (local.get $t) (i32.const 0)))
            (block $in0 (loop $wrap0
              (br_if $in0 (i32.lt_u (local.get $rt) (local.get $kc)))
              (local.set $rt (i32.sub (local.get $rt) (local.get $kc)))
              (local.set $ra (i32.add (local.get $ra) (i32.const 1)))
              (br $wrap0)))
            (if (i32.ge_u (local.get $ra) (local.get $k))
              (then
                (local.set $ra (i32.sub (local.get $k) (i32.const 1)))
                (local.set $rt (i32.sub (local.get $kc) (i32.const 1)))))
            (local.set $off0 (i32.add (i32.mul (local.get $ra) (local.get $xRow)) (i32.shl (local.get $rt) (i32.const 2))))
            (local.set $ra (local.get $a))
            (local.set $rt (i32.add (local.get $t) (i32.const 1)))
            (block $in1 (loop $wrap1
              (br_if $in1 (i32.lt_u (local.get $rt) (local.get $kc)))
              (local.set $rt (i32.sub (local.get $rt) (local.get $kc)))
              (local.set $ra (i32.add (local.get $ra) (i32.const 1)))
              (br $wrap1)))
            (if (i32.ge_u (local.get $ra) (local.get $k))
              (then
                (local.set $ra (i32.sub (local.get $k) (i32.const 1)))
                (local.set $rt (i32.sub (local.get $kc) (i32.const 1)))))
            (local.set $off1 (i32.add (i32.mul (local.get $ra) (local.get $xRow)) (i32.shl (local.get $rt) (i32.const 2))))
            (local.set $ra (local.get $a))
            (local.set $rt (i32.add (local.get $t) (i32.const 2)))
            (block $in2 (loop $wrap2
              (br_if $in2 (i32.lt_u (local.get $rt) (local.get $kc)))
              (local.set $rt (i32.sub (local.get $rt) (local.get $kc)))
              (local.set $ra (i32.add (local.get $ra) (i32.const 1)))
              (br $wrap2)))
            (if (i32.ge_u (local.get $ra) (local.get $k))
              (then
                (local.set $ra (i32.sub (local.get $k) (i32.const 1)))
                (local.set $rt (i32.sub (local.get $kc) (i32.const 1)))))
            (local.set $off2 (i32.add (i32.mul (local.get $ra) (local.get $xRow)) (i32.shl (local.get $rt) (i32.const 2))))
            (local.set $ra (local.get $a))
            (local.set $rt (i32.add (local.get $t) (i32.const 3)))
            (block $in3 (loop $wrap3
              (br_if $in3 (i32.lt_u (local.get $rt) (local.get $kc)))
              (local.set $rt (i32.sub (local.get $rt) (local.get $kc)))
              (local.set $ra (i32.add (local.get $ra) (i32.const 1)))
              (br $wrap3)))
            (if (i32.ge_u (local.get $ra) (local.get $k))
              (then
                (local.set $ra (i32.sub (local.get $k) (i32.const 1)))
                (local.set $rt (i32.sub (local.get $kc) (i32.const 1)))))
            (local.set $off3 (i32.add (i32.mul (local.get $ra) (local.get $xRow)) (i32.shl (local.get $rt) (i32.const 2))))
          (local.set $d1 (i32.sub (local.get $off1) (local.get $off0)))
          (local.set $d2 (i32.sub (local.get $off2) (local.get $off0)))
          (local.set $d3 (i32.sub (local.get $off3) (local.get $off0)))
          ;; the sums so far: dw rows u .. u + 3 (missing ones read the last row; they are never stored)
          (local.set $out (i32.add (local.get $dw) (i32.shl (i32.add (i32.mul (local.get $u) (local.get $o)) (local.get $q)) (i32.const 2))))
          (local.set $last (i32.add (local.get $dw) (i32.shl (i32.add (i32.mul (i32.sub (local.get $rows) (i32.const 1)) (local.get $o)) (local.get $q)) (i32.const 2))))
          (local.set $c00 (v128.load (local.get $out)))
          (local.set $c01 (v128.load offset=16 (local.get $out)))
          (local.set $xp (select (i32.add (local.get $out) (local.get $outRow)) (local.get $last) (i32.lt_u (i32.add (local.get $u) (i32.const 1)) (local.get $rows))))
          (local.set $c10 (v128.load (local.get $xp)))
          (local.set $c11 (v128.load offset=16 (local.get $xp)))
          (local.set $xp (select (i32.add (local.get $out) (i32.shl (local.get $outRow) (i32.const 1))) (local.get $last) (i32.lt_u (i32.add (local.get $u) (i32.const 2)) (local.get $rows))))
          (local.set $c20 (v128.load (local.get $xp)))
          (local.set $c21 (v128.load offset=16 (local.get $xp)))
          (local.set $xp (select (i32.add (local.get $out) (i32.mul (local.get $outRow) (i32.const 3))) (local.get $last) (i32.lt_u (i32.add (local.get $u) (i32.const 3)) (local.get $rows))))
          (local.set $c30 (v128.load (local.get $xp)))
          (local.set $c31 (v128.load offset=16 (local.get $xp)))
          (local.set $i (local.get $i0))
          (block $doneI (loop $loopI
            (br_if $doneI (i32.ge_u (local.get $i) (local.get $iEnd)))
            (local.set $xp (i32.add (i32.add (local.get $xImg) (i32.mul (local.get $i) (local.get $xRow))) (local.get $off0)))
            (local.set $dzp
              (i32.add (local.get $dzImg) (i32.add (i32.mul (local.get $i) (local.get $dzRow)) (i32.mul (i32.shr_u (local.get $q) (i32.const 3)) (local.get $dzBlock)))))
            (local.set $dzEnd (i32.add (local.get $dzp) (i32.mul (local.get $width) (local.get $dzPixel))))
            (loop $loopJ
              (local.set $b0 (v128.load (local.get $dzp)))
              (local.set $b1 (v128.load offset=16 (local.get $dzp)))
                (local.set $s (v128.load32_splat (local.get $xp)))
                (local.set $c00 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c00)))
                (local.set $c01 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c01)))
                (local.set $s (v128.load32_splat (i32.add (local.get $xp) (local.get $d1))))
                (local.set $c10 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c10)))
                (local.set $c11 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c11)))
                (local.set $s (v128.load32_splat (i32.add (local.get $xp) (local.get $d2))))
                (local.set $c20 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c20)))
                (local.set $c21 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c21)))
                (local.set $s (v128.load32_splat (i32.add (local.get $xp) (local.get $d3))))
                (local.set $c30 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c30)))
                (local.set $c31 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c31)))
              (local.set $xp (i32.add (local.get $xp) (local.get $pixel)))
              (local.set $dzp (i32.add (local.get $dzp) (local.get $dzPixel)))
              (br_if $loopJ (i32.lt_u (local.get $dzp) (local.get $dzEnd))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $loopI)))
          ;; dw[u + r, q .. q + 8) = row r
            (v128.store (local.get $out) (local.get $c00))
            (v128.store offset=16 (local.get $out) (local.get $c01))
            (if (i32.lt_u (i32.add (local.get $u) (i32.const 1)) (local.get $rows))
              (then
                (local.set $out (i32.add (local.get $out) (local.get $outRow)))
                (v128.store (local.get $out) (local.get $c10))
                (v128.store offset=16 (local.get $out) (local.get $c11))))
            (if (i32.lt_u (i32.add (local.get $u) (i32.const 2)) (local.get $rows))
              (then
                (local.set $out (i32.add (local.get $out) (local.get $outRow)))
                (v128.store (local.get $out) (local.get $c20))
                (v128.store offset=16 (local.get $out) (local.get $c21))))
            (if (i32.lt_u (i32.add (local.get $u) (i32.const 3)) (local.get $rows))
              (then
                (local.set $out (i32.add (local.get $out) (local.get $outRow)))
                (v128.store (local.get $out) (local.get $c30))
                (v128.store offset=16 (local.get $out) (local.get $c31))))
          (local.set $u (i32.add (local.get $u) (i32.const 4)))
          (local.set $t (i32.add (local.get $t) (i32.const 4)))
          (block $inTap (loop $nextTap
            (br_if $inTap (i32.lt_u (local.get $t) (local.get $kc)))
            (local.set $t (i32.sub (local.get $t) (local.get $kc)))
            (local.set $a (i32.add (local.get $a) (i32.const 1)))
            (br $nextTap)))
          (br $loopU)))
        (local.set $i0 (local.get $iEnd))
        (br $loopSlice)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $loopQ)))
      (local.set $img (i32.add (local.get $img) (i32.const 1)))
      (br $loopImg)))
  )

  ;; C[r, q] = act(start[r, q] + Σ_{t<depth} A[r, t] · B[t, q])   r < m, q < cols
  ;; with A[r, t] at a + r·aRow + t·aCol (any strides: A is only ever broadcast, so a transposed A costs nothing),
  ;; B[t, q] at b + t·bRow + 4q and C[r, q] at c + r·cRow + 4q. start: C itself when `accumulate` ≠ 0 (a product
  ;; taken in slices of depth), else bias[q] (`bias` 0: none). `relu` ≠ 0: max(·, 0). Rows in blocks of 4 (a last,
  ;; partial block reads a real row in place of the missing ones and stores only the real ones), columns in blocks
  ;; of 8, the last cols % 8 columns one at a time. Each block of rows sweeps all of B: the caller slices a B too
  ;; big for the cache (see fused-fma.ts).
  (func (export "gemm")
    (param $a i32) (param $aRow i32) (param $aCol i32)
    (param $b i32) (param $bRow i32)
    (param $c i32) (param $cRow i32)
    (param $m i32) (param $cols i32) (param $depth i32) (param $bias i32) (param $relu i32) (param $accumulate i32)
    (local $r i32) (local $q i32) (local $t i32) (local $rows i32) (local $cols8 i32)
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $bp i32) (local $cp i32)
    (local $b0 v128) (local $b1 v128) (local $s v128) (local $zero v128) (local $sum f32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (local.set $cols8 (i32.and (local.get $cols) (i32.const -8)))
    (local.set $r (i32.const 0))
    (block $doneR (loop $loopR
      (br_if $doneR (i32.ge_u (local.get $r) (local.get $m)))
      (local.set $rows (i32.sub (local.get $m) (local.get $r)))
      (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $aRow))))
      (local.set $a1 (select (i32.add (local.get $a0) (local.get $aRow)) (local.get $a0) (i32.gt_u (local.get $rows) (i32.const 1))))
      (local.set $a2 (select (i32.add (local.get $a1) (local.get $aRow)) (local.get $a1) (i32.gt_u (local.get $rows) (i32.const 2))))
      (local.set $a3 (select (i32.add (local.get $a2) (local.get $aRow)) (local.get $a2) (i32.gt_u (local.get $rows) (i32.const 3))))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $loopQ
        (br_if $doneQ (i32.ge_u (local.get $q) (local.get $cols8)))
        (local.set $cp
          (i32.add (local.get $c) (i32.add (i32.mul (local.get $r) (local.get $cRow)) (i32.shl (local.get $q) (i32.const 2)))))
        (if (local.get $accumulate)
          (then
            ;; missing rows of a last block read the last real one; their sums are never stored
            (local.set $c00 (v128.load (local.get $cp)))
            (local.set $c01 (v128.load offset=16 (local.get $cp)))
            (local.set $bp (select (i32.add (local.get $cp) (local.get $cRow)) (local.get $cp) (i32.gt_u (local.get $rows) (i32.const 1))))
            (local.set $c10 (v128.load (local.get $bp)))
            (local.set $c11 (v128.load offset=16 (local.get $bp)))
            (local.set $bp (select (i32.add (local.get $bp) (local.get $cRow)) (local.get $bp) (i32.gt_u (local.get $rows) (i32.const 2))))
            (local.set $c20 (v128.load (local.get $bp)))
            (local.set $c21 (v128.load offset=16 (local.get $bp)))
            (local.set $bp (select (i32.add (local.get $bp) (local.get $cRow)) (local.get $bp) (i32.gt_u (local.get $rows) (i32.const 3))))
            (local.set $c30 (v128.load (local.get $bp)))
            (local.set $c31 (v128.load offset=16 (local.get $bp))))
          (else
            (if (local.get $bias)
              (then
                (local.set $c00 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $q) (i32.const 2)))))
                (local.set $c01 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $q) (i32.const 2))))))
              (else
                (local.set $c00 (local.get $zero))
                (local.set $c01 (local.get $zero))))
            (local.set $c10 (local.get $c00)) (local.set $c11 (local.get $c01))
            (local.set $c20 (local.get $c00)) (local.set $c21 (local.get $c01))
            (local.set $c30 (local.get $c00)) (local.set $c31 (local.get $c01))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $q) (i32.const 2))))
        (local.set $t (i32.const 0))
        (block $doneT (loop $loopT
          (br_if $doneT (i32.ge_u (local.get $t) (local.get $depth)))
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $s (v128.load32_splat (local.get $a0)))
          (local.set $c00 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c00)))
          (local.set $c01 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c01)))
          (local.set $s (v128.load32_splat (local.get $a1)))
          (local.set $c10 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c10)))
          (local.set $c11 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c11)))
          (local.set $s (v128.load32_splat (local.get $a2)))
          (local.set $c20 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c20)))
          (local.set $c21 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c21)))
          (local.set $s (v128.load32_splat (local.get $a3)))
          (local.set $c30 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c30)))
          (local.set $c31 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c31)))
          (local.set $a0 (i32.add (local.get $a0) (local.get $aCol)))
          (local.set $a1 (i32.add (local.get $a1) (local.get $aCol)))
          (local.set $a2 (i32.add (local.get $a2) (local.get $aCol)))
          (local.set $a3 (i32.add (local.get $a3) (local.get $aCol)))
          (local.set $bp (i32.add (local.get $bp) (local.get $bRow)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $loopT)))
        ;; rewind the row pointers for the next block of columns
        (local.set $t (i32.mul (local.get $depth) (local.get $aCol)))
        (local.set $a0 (i32.sub (local.get $a0) (local.get $t)))
        (local.set $a1 (i32.sub (local.get $a1) (local.get $t)))
        (local.set $a2 (i32.sub (local.get $a2) (local.get $t)))
        (local.set $a3 (i32.sub (local.get $a3) (local.get $t)))
        (if (local.get $relu)
          (then
            (local.set $c00 (f32x4.max (local.get $c00) (local.get $zero)))
            (local.set $c01 (f32x4.max (local.get $c01) (local.get $zero)))
            (local.set $c10 (f32x4.max (local.get $c10) (local.get $zero)))
            (local.set $c11 (f32x4.max (local.get $c11) (local.get $zero)))
            (local.set $c20 (f32x4.max (local.get $c20) (local.get $zero)))
            (local.set $c21 (f32x4.max (local.get $c21) (local.get $zero)))
            (local.set $c30 (f32x4.max (local.get $c30) (local.get $zero)))
            (local.set $c31 (f32x4.max (local.get $c31) (local.get $zero)))))
        (v128.store (local.get $cp) (local.get $c00))
        (v128.store offset=16 (local.get $cp) (local.get $c01))
        (if (i32.gt_u (local.get $rows) (i32.const 1))
          (then
            (local.set $cp (i32.add (local.get $cp) (local.get $cRow)))
            (v128.store (local.get $cp) (local.get $c10))
            (v128.store offset=16 (local.get $cp) (local.get $c11))))
        (if (i32.gt_u (local.get $rows) (i32.const 2))
          (then
            (local.set $cp (i32.add (local.get $cp) (local.get $cRow)))
            (v128.store (local.get $cp) (local.get $c20))
            (v128.store offset=16 (local.get $cp) (local.get $c21))))
        (if (i32.gt_u (local.get $rows) (i32.const 3))
          (then
            (local.set $cp (i32.add (local.get $cp) (local.get $cRow)))
            (v128.store (local.get $cp) (local.get $c30))
            (v128.store offset=16 (local.get $cp) (local.get $c31))))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $loopQ)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $loopR)))
    ;; the last cols % 8 columns, one output at a time
    (local.set $q (local.get $cols8))
    (block $doneTailQ (loop $loopTailQ
      (br_if $doneTailQ (i32.ge_u (local.get $q) (local.get $cols)))
      (local.set $r (i32.const 0))
      (block $doneTailR (loop $loopTailR
        (br_if $doneTailR (i32.ge_u (local.get $r) (local.get $m)))
        (local.set $cp
          (i32.add (local.get $c) (i32.add (i32.mul (local.get $r) (local.get $cRow)) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $sum
          (if (result f32) (local.get $accumulate)
            (then (f32.load (local.get $cp)))
            (else
              (if (result f32) (local.get $bias)
                (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $q) (i32.const 2)))))
                (else (f32.const 0))))))
        (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $aRow))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $q) (i32.const 2))))
        (local.set $t (i32.const 0))
        (block $doneT1 (loop $loopT1
          (br_if $doneT1 (i32.ge_u (local.get $t) (local.get $depth)))
          (local.set $sum (f32.add (local.get $sum) (f32.mul (f32.load (local.get $a0)) (f32.load (local.get $bp)))))
          (local.set $a0 (i32.add (local.get $a0) (local.get $aCol)))
          (local.set $bp (i32.add (local.get $bp) (local.get $bRow)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $loopT1)))
        (if (i32.and (local.get $relu) (i32.eqz (f32.gt (local.get $sum) (f32.const 0))))
          (then (local.set $sum (f32.const 0))))
        (f32.store (local.get $cp) (local.get $sum))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $loopTailR)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $loopTailQ)))
  )

  ;; 2×2, stride-2 max-pool of x [n, h, w, c] (c a multiple of 4) into y, whose rows and images are yRow and yImage
  ;; bytes apart (pixels c floats apart), so the next conv's zero padding can be around it already.
  (func (export "maxPool2x2")
    (param $x i32) (param $y i32) (param $yRow i32) (param $yImage i32)
    (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (local $img i32) (local $r i32) (local $col i32) (local $ch i32) (local $outH i32) (local $outW i32)
    (local $rowBytes i32) (local $pixel i32) (local $xp i32) (local $yp i32) (local $chBytes i32)
    (local.set $outH (i32.shr_u (local.get $h) (i32.const 1)))
    (local.set $outW (i32.shr_u (local.get $w) (i32.const 1)))
    (local.set $pixel (i32.shl (local.get $c) (i32.const 2)))
    (local.set $rowBytes (i32.mul (local.get $w) (local.get $pixel)))
    (local.set $img (i32.const 0))
    (block $doneImg (loop $loopImg
      (br_if $doneImg (i32.ge_u (local.get $img) (local.get $n)))
      (local.set $r (i32.const 0))
      (block $doneR (loop $loopR
        (br_if $doneR (i32.ge_u (local.get $r) (local.get $outH)))
        (local.set $col (i32.const 0))
        (block $doneCol (loop $loopCol
          (br_if $doneCol (i32.ge_u (local.get $col) (local.get $outW)))
          (local.set $xp
            (i32.add (local.get $x)
              (i32.add (i32.mul (i32.add (i32.mul (local.get $img) (local.get $h)) (i32.shl (local.get $r) (i32.const 1))) (local.get $rowBytes))
                       (i32.mul (i32.shl (local.get $col) (i32.const 1)) (local.get $pixel)))))
          (local.set $yp
            (i32.add (local.get $y)
              (i32.add (i32.add (i32.mul (local.get $img) (local.get $yImage)) (i32.mul (local.get $r) (local.get $yRow)))
                       (i32.mul (local.get $col) (local.get $pixel)))))
          (local.set $chBytes (i32.const 0))
          (block $doneCh (loop $loopCh
            (br_if $doneCh (i32.ge_u (local.get $chBytes) (local.get $pixel)))
            (v128.store (i32.add (local.get $yp) (local.get $chBytes))
              (f32x4.max
                (f32x4.max (v128.load (i32.add (local.get $xp) (local.get $chBytes)))
                           (v128.load (i32.add (i32.add (local.get $xp) (local.get $pixel)) (local.get $chBytes))))
                (f32x4.max (v128.load (i32.add (i32.add (local.get $xp) (local.get $rowBytes)) (local.get $chBytes)))
                           (v128.load (i32.add (i32.add (i32.add (local.get $xp) (local.get $rowBytes)) (local.get $pixel)) (local.get $chBytes))))))
            (local.set $chBytes (i32.add (local.get $chBytes) (i32.const 16)))
            (br $loopCh)))
          (local.set $col (i32.add (local.get $col) (i32.const 1)))
          (br $loopCol)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $loopR)))
      (local.set $img (i32.add (local.get $img) (i32.const 1)))
      (br $loopImg)))
  )

  ;; Back through the max-pool above and the relu before it, four channels at a time (c a multiple of 4): dy goes to
  ;; each window's first maximum in row-major order (the cpu backend's rule) unless that maximum is not positive
  ;; (the relu passes nothing there); the window's other positions get 0, so only rows and columns outside every
  ;; window (an odd h or w) need zeroing beforehand; bias[ch] receives the sum over all windows. x: the relu output
  ;; [n, h, w, c] (contiguous); pooled: as maxPool2x2 wrote it (pRow, pImage strides); dy[img, f] at dy + img·dyImage
  ;; + f·dyStep with f = (row·w/2 + col)·c + ch, so a transposed dy ([f, n], a dense layer's dxᵀ) needs no copy.
  ;; dz is written as NHWC, dz[img, i, j, ch] at dz + img·dzImage + i·dzRow + 4(j·c + ch) (for the input-gradient
  ;; conv), and/or in panels of 8 channels, at panels + img·panelImage + (ch/8)·panelBlock + 32(i·w + j) + 4(ch%8)
  ;; (for the filter gradient); 0 skips either. The panels have no padding: every entry is written when h, w are even.
  (func (export "poolReluBackward")
    (param $x i32) (param $pooled i32) (param $pRow i32) (param $pImage i32)
    (param $dy i32) (param $dyImage i32) (param $dyStep i32)
    (param $dz i32) (param $dzRow i32) (param $dzImage i32)
    (param $panels i32) (param $panelImage i32) (param $panelBlock i32) (param $bias i32)
    (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (local $pp0 i32) (local $pq i32) (local $panelRow i32) (local $g0 v128) (local $g1 v128) (local $g2 v128) (local $g3 v128)
    (local $img i32) (local $r i32) (local $col i32) (local $ch i32) (local $outH i32) (local $outW i32)
    (local $pixel i32) (local $rowBytes i32) (local $xp i32) (local $pp i32) (local $dyp i32) (local $dzp i32) (local $dyStep4 i32)
    (local $max v128) (local $g v128) (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $taken v128) (local $zero v128)
    (local.set $outH (i32.shr_u (local.get $h) (i32.const 1)))
    (local.set $outW (i32.shr_u (local.get $w) (i32.const 1)))
    (local.set $pixel (i32.shl (local.get $c) (i32.const 2)))
    (local.set $rowBytes (i32.mul (local.get $w) (local.get $pixel)))
    (local.set $dyStep4 (i32.shl (local.get $dyStep) (i32.const 2)))
    (local.set $panelRow (i32.shl (local.get $w) (i32.const 5)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (memory.fill (local.get $bias) (i32.const 0) (local.get $pixel))
    (local.set $img (i32.const 0))
    (block $doneImg (loop $loopImg
      (br_if $doneImg (i32.ge_u (local.get $img) (local.get $n)))
      (local.set $dyp (i32.add (local.get $dy) (i32.mul (local.get $img) (local.get $dyImage))))
      (local.set $r (i32.const 0))
      (block $doneR (loop $loopR
        (br_if $doneR (i32.ge_u (local.get $r) (local.get $outH)))
        (local.set $col (i32.const 0))
        (block $doneCol (loop $loopCol
          (br_if $doneCol (i32.ge_u (local.get $col) (local.get $outW)))
          (local.set $xp
            (i32.add (local.get $x)
              (i32.add (i32.mul (i32.add (i32.mul (local.get $img) (local.get $h)) (i32.shl (local.get $r) (i32.const 1))) (local.get $rowBytes))
                       (i32.mul (i32.shl (local.get $col) (i32.const 1)) (local.get $pixel)))))
          (local.set $pp
            (i32.add (local.get $pooled)
              (i32.add (i32.add (i32.mul (local.get $img) (local.get $pImage)) (i32.mul (local.get $r) (local.get $pRow)))
                       (i32.mul (local.get $col) (local.get $pixel)))))
          (local.set $dzp
            (i32.add (local.get $dz)
              (i32.add (i32.add (i32.mul (local.get $img) (local.get $dzImage)) (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $dzRow)))
                       (i32.mul (i32.shl (local.get $col) (i32.const 1)) (local.get $pixel)))))
          ;; the window's top-left pixel in the panels
          (local.set $pp0
            (i32.add (i32.add (local.get $panels) (i32.mul (local.get $img) (local.get $panelImage)))
              (i32.shl (i32.add (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $w)) (i32.shl (local.get $col) (i32.const 1))) (i32.const 5))))
          (local.set $ch (i32.const 0))
          (block $doneCh (loop $loopCh
            (br_if $doneCh (i32.ge_u (local.get $ch) (local.get $pixel)))
            (local.set $max (v128.load (i32.add (local.get $pp) (local.get $ch))))
            (local.set $g
              (if (result v128) (i32.eq (local.get $dyStep) (i32.const 4))
                (then (v128.load (local.get $dyp)))
                (else
                  (v128.load32_lane 3 (i32.add (local.get $dyp) (i32.mul (local.get $dyStep) (i32.const 3)))
                    (v128.load32_lane 2 (i32.add (local.get $dyp) (i32.shl (local.get $dyStep) (i32.const 1)))
                      (v128.load32_lane 1 (i32.add (local.get $dyp) (local.get $dyStep))
                        (v128.load32_zero (local.get $dyp))))))))
            (local.set $g (v128.and (local.get $g) (f32x4.gt (local.get $max) (local.get $zero))))
            (local.set $m0 (f32x4.eq (v128.load (i32.add (local.get $xp) (local.get $ch))) (local.get $max)))
            (local.set $m1
              (v128.andnot (f32x4.eq (v128.load (i32.add (i32.add (local.get $xp) (local.get $pixel)) (local.get $ch))) (local.get $max))
                           (local.get $m0)))
            (local.set $taken (v128.or (local.get $m0) (local.get $m1)))
            (local.set $m2
              (v128.andnot (f32x4.eq (v128.load (i32.add (i32.add (local.get $xp) (local.get $rowBytes)) (local.get $ch))) (local.get $max))
                           (local.get $taken)))
            (local.set $taken (v128.or (local.get $taken) (local.get $m2)))
            (local.set $g0 (v128.and (local.get $g) (local.get $m0)))
            (local.set $g1 (v128.and (local.get $g) (local.get $m1)))
            (local.set $g2 (v128.and (local.get $g) (local.get $m2)))
            (local.set $g3 (v128.andnot (local.get $g) (local.get $taken)))
            (if (local.get $dz)
              (then
                (v128.store (i32.add (local.get $dzp) (local.get $ch)) (local.get $g0))
                (v128.store (i32.add (i32.add (local.get $dzp) (local.get $pixel)) (local.get $ch)) (local.get $g1))
                (v128.store (i32.add (i32.add (local.get $dzp) (local.get $dzRow)) (local.get $ch)) (local.get $g2))
                (v128.store (i32.add (i32.add (i32.add (local.get $dzp) (local.get $dzRow)) (local.get $pixel)) (local.get $ch)) (local.get $g3))))
            (if (local.get $panels)
              (then
                (local.set $pq
                  (i32.add (local.get $pp0)
                    (i32.add (i32.mul (i32.shr_u (local.get $ch) (i32.const 5)) (local.get $panelBlock)) (i32.and (local.get $ch) (i32.const 16)))))
                (v128.store (local.get $pq) (local.get $g0))
                (v128.store offset=32 (local.get $pq) (local.get $g1))
                (v128.store (i32.add (local.get $pq) (local.get $panelRow)) (local.get $g2))
                (v128.store offset=32 (i32.add (local.get $pq) (local.get $panelRow)) (local.get $g3))))
            (v128.store (i32.add (local.get $bias) (local.get $ch))
              (f32x4.add (v128.load (i32.add (local.get $bias) (local.get $ch))) (local.get $g)))
            (local.set $dyp (i32.add (local.get $dyp) (local.get $dyStep4)))
            (local.set $ch (i32.add (local.get $ch) (i32.const 16)))
            (br $loopCh)))
          (local.set $col (i32.add (local.get $col) (i32.const 1)))
          (br $loopCol)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $loopR)))
      (local.set $img (i32.add (local.get $img) (i32.const 1)))
      (br $loopImg)))
  )
)
