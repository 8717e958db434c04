;; UHASH-64 of RFC 4418 (UMAC-64 without its pad): NH over 1024-byte chunks, POLY64 over the NH
;; values, and the L3 inner product, for messages shorter than 2^24 bytes (POLY128 is not needed:
;; kad frames are at most 4 MiB). Two iterations run side by side over each 32-byte block with
;; 128-bit SIMD: the message is read once, the second iteration's key is the first's shifted by
;; 16 bytes (Toeplitz). The block cipher parts (key derivation and the pad) stay in JavaScript.
;;
;; Memory layout (the memory is the caller's, so messages can live in it without a copy):
;;   0    NH key: 1024 + 16 bytes, 32-bit words in native (little-endian) order
;;   1088 POLY64 keys of iterations 1 and 2 (u64, masked)
;;   1104 L3 key words of iterations 1 and 2: 8 + 8 u64, each already reduced mod 2^36 - 5
;;   1232 scratch: the zero-padded tail of a chunk (32 bytes)
;;   1280 output: the 8 hash bytes (iteration 1 then 2, each big-endian)
;;   4096 and up: free for the caller (messages)
;;
;; Built with `deno task wasm` into umac64_wasm.ts.
(module
  (import "env" "memory" (memory 1))

  (global $acc1 (mut i64) (i64.const 0))
  (global $acc2 (mut i64) (i64.const 0))

  ;; NH of both iterations over len bytes (a multiple of 32) at $m with the key from word offset
  ;; $k, added to $acc1 and $acc2. Message words are read little-endian: RFC 4418's ENDIAN-SWAP.
  (func $nh (param $m i32) (param $len i32) (param $k i32)
    (local $end i32) (local $a1 v128) (local $a2 v128)
    (local $lo v128) (local $hi v128) (local $k0 v128) (local $k1 v128) (local $k2 v128)
    (local $x v128) (local $y v128)
    (local.set $end (i32.add (local.get $m) (local.get $len)))
    (local.set $k0 (v128.load (local.get $k)))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
        (local.set $lo (v128.load (local.get $m)))
        (local.set $hi (v128.load offset=16 (local.get $m)))
        (local.set $k1 (v128.load offset=16 (local.get $k)))
        (local.set $k2 (v128.load offset=32 (local.get $k)))
        ;; iteration 1: words 1-4 with key words 1-4, words 5-8 with key words 5-8
        (local.set $x (i32x4.add (local.get $lo) (local.get $k0)))
        (local.set $y (i32x4.add (local.get $hi) (local.get $k1)))
        (local.set $a1 (i64x2.add (local.get $a1) (i64x2.extmul_low_i32x4_u (local.get $x) (local.get $y))))
        (local.set $a1 (i64x2.add (local.get $a1) (i64x2.extmul_high_i32x4_u (local.get $x) (local.get $y))))
        ;; iteration 2: the key 4 words further on
        (local.set $x (i32x4.add (local.get $lo) (local.get $k1)))
        (local.set $y (i32x4.add (local.get $hi) (local.get $k2)))
        (local.set $a2 (i64x2.add (local.get $a2) (i64x2.extmul_low_i32x4_u (local.get $x) (local.get $y))))
        (local.set $a2 (i64x2.add (local.get $a2) (i64x2.extmul_high_i32x4_u (local.get $x) (local.get $y))))
        ;; the next block's first key words are this block's $k2
        (local.set $k0 (local.get $k2))
        (local.set $m (i32.add (local.get $m) (i32.const 32)))
        (local.set $k (i32.add (local.get $k) (i32.const 32)))
        (br $block)))
    (global.set $acc1 (i64.add (global.get $acc1)
      (i64.add (i64x2.extract_lane 0 (local.get $a1)) (i64x2.extract_lane 1 (local.get $a1)))))
    (global.set $acc2 (i64.add (global.get $acc2)
      (i64.add (i64x2.extract_lane 0 (local.get $a2)) (i64x2.extract_lane 1 (local.get $a2))))))

  ;; NH of one chunk (0 to 1024 bytes) plus its bit length, into $acc1 and $acc2. The tail that
  ;; does not fill 32 bytes is zero-padded in the scratch area; an empty chunk is 32 zero bytes.
  (func $chunk (param $m i32) (param $len i32)
    (local $whole i32) (local $tail i32)
    (global.set $acc1 (i64.const 0))
    (global.set $acc2 (i64.const 0))
    (local.set $whole (i32.and (local.get $len) (i32.const -32)))
    (local.set $tail (i32.sub (local.get $len) (local.get $whole)))
    (call $nh (local.get $m) (local.get $whole) (i32.const 0))
    (if (i32.or (local.get $tail) (i32.eqz (local.get $len)))
      (then
        (memory.fill (i32.const 1232) (i32.const 0) (i32.const 32))
        (memory.copy (i32.const 1232) (i32.add (local.get $m) (local.get $whole)) (local.get $tail))
        (call $nh (i32.const 1232) (i32.const 32) (local.get $whole))))
    (global.set $acc1 (i64.add (global.get $acc1) (i64.extend_i32_u (i32.shl (local.get $len) (i32.const 3)))))
    (global.set $acc2 (i64.add (global.get $acc2) (i64.extend_i32_u (i32.shl (local.get $len) (i32.const 3))))))

  ;; (k * y) mod p64 for k < 2^57 and y < 2^64, p64 = 2^64 - 59.
  (func $mulmod (param $k i64) (param $y i64) (result i64)
    (local $kl i64) (local $kh i64) (local $yl i64) (local $yh i64)
    (local $mid i64) (local $cross i64) (local $lo i64) (local $hi i64) (local $r i64)
    (local.set $kl (i64.and (local.get $k) (i64.const 0xffffffff)))
    (local.set $kh (i64.shr_u (local.get $k) (i64.const 32)))
    (local.set $yl (i64.and (local.get $y) (i64.const 0xffffffff)))
    (local.set $yh (i64.shr_u (local.get $y) (i64.const 32)))
    ;; k*y = hh 2^64 + (lh + hl) 2^32 + ll; lh + hl < 2^64 + 2^57 may carry
    (local.set $cross (i64.mul (local.get $kh) (local.get $yl)))
    (local.set $mid (i64.add (i64.mul (local.get $kl) (local.get $yh)) (local.get $cross)))
    (local.set $hi (i64.add
      (i64.mul (local.get $kh) (local.get $yh))
      (i64.add
        (i64.shr_u (local.get $mid) (i64.const 32))
        (select (i64.const 0x100000000) (i64.const 0) (i64.lt_u (local.get $mid) (local.get $cross))))))
    (local.set $lo (i64.add (i64.mul (local.get $kl) (local.get $yl)) (i64.shl (local.get $mid) (i64.const 32))))
    (if (i64.lt_u (local.get $lo) (i64.shl (local.get $mid) (i64.const 32)))
      (then (local.set $hi (i64.add (local.get $hi) (i64.const 1)))))
    ;; 2^64 = 59 (mod p64): hi 2^64 + lo = hi 59 + lo, hi < 2^57
    (local.set $r (i64.add (local.get $lo) (i64.mul (local.get $hi) (i64.const 59))))
    (if (i64.lt_u (local.get $r) (local.get $lo))
      (then (local.set $r (i64.add (local.get $r) (i64.const 59)))))
    (call $reduce (local.get $r)))

  ;; r mod p64 for any r < 2^64.
  (func $reduce (param $r i64) (result i64)
    (select
      (i64.add (local.get $r) (i64.const 59))
      (local.get $r)
      (i64.ge_u (local.get $r) (i64.const -59))))

  ;; (y + m) mod p64 for y < p64 and any m < 2^64.
  (func $addmod (param $y i64) (param $m i64) (result i64)
    (local $s i64)
    (local.set $s (i64.add (local.get $y) (local.get $m)))
    (if (i64.lt_u (local.get $s) (local.get $y))
      (then (local.set $s (i64.add (local.get $s) (i64.const 59)))))
    (call $reduce (local.get $s)))

  ;; One POLY64 step of RFC 4418 (maxwordrange 2^64 - 2^32, marker p64 - 1, offset 59).
  (func $poly (param $y i64) (param $k i64) (param $m i64) (result i64)
    (if (i64.ge_u (local.get $m) (i64.const 0xffffffff00000000))
      (then
        (local.set $y (call $addmod (call $mulmod (local.get $k) (local.get $y)) (i64.const -60)))
        (local.set $m (i64.sub (local.get $m) (i64.const 59)))))
    (call $addmod (call $mulmod (local.get $k) (local.get $y)) (local.get $m)))

  ;; L3-HASH of B = 0^64 || $v with the 8 key words at $keys: only the low four 16-bit words of
  ;; B are non-zero. Returns the 32-bit result before the xor with the second L3 key.
  (func $l3 (param $v i64) (param $keys i32) (result i32)
    (local $sum i64)
    (local.set $sum (i64.add
      (i64.add
        (i64.mul (i64.shr_u (local.get $v) (i64.const 48)) (i64.load offset=32 (local.get $keys)))
        (i64.mul (i64.and (i64.shr_u (local.get $v) (i64.const 32)) (i64.const 0xffff)) (i64.load offset=40 (local.get $keys))))
      (i64.add
        (i64.mul (i64.and (i64.shr_u (local.get $v) (i64.const 16)) (i64.const 0xffff)) (i64.load offset=48 (local.get $keys)))
        (i64.mul (i64.and (local.get $v) (i64.const 0xffff)) (i64.load offset=56 (local.get $keys))))))
    (i32.wrap_i64 (i64.rem_u (local.get $sum) (i64.const 68719476731))))

  ;; Big-endian 32-bit store.
  (func $store_be (param $at i32) (param $x i32)
    (i32.store8 (local.get $at) (i32.shr_u (local.get $x) (i32.const 24)))
    (i32.store8 offset=1 (local.get $at) (i32.shr_u (local.get $x) (i32.const 16)))
    (i32.store8 offset=2 (local.get $at) (i32.shr_u (local.get $x) (i32.const 8)))
    (i32.store8 offset=3 (local.get $at) (local.get $x)))

  ;; UHASH-64 of the $len bytes at $m (0 <= len < 2^24) into the output area, before the xor with
  ;; the second L3 keys (done by the caller with the pad).
  (func (export "uhash") (param $m i32) (param $len i32)
    (local $end i32) (local $n i32) (local $y1 i64) (local $y2 i64)
    (if (i32.le_u (local.get $len) (i32.const 1024))
      (then
        (call $chunk (local.get $m) (local.get $len))
        (local.set $y1 (global.get $acc1))
        (local.set $y2 (global.get $acc2)))
      (else
        (local.set $end (i32.add (local.get $m) (local.get $len)))
        (local.set $y1 (i64.const 1))
        (local.set $y2 (i64.const 1))
        (block $done
          (loop $chunks
            (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
            (local.set $n (i32.sub (local.get $end) (local.get $m)))
            (if (i32.gt_u (local.get $n) (i32.const 1024)) (then (local.set $n (i32.const 1024))))
            (call $chunk (local.get $m) (local.get $n))
            (local.set $y1 (call $poly (local.get $y1) (i64.load (i32.const 1088)) (global.get $acc1)))
            (local.set $y2 (call $poly (local.get $y2) (i64.load (i32.const 1096)) (global.get $acc2)))
            (local.set $m (i32.add (local.get $m) (local.get $n)))
            (br $chunks)))))
    (call $store_be (i32.const 1280) (call $l3 (local.get $y1) (i32.const 1104)))
    (call $store_be (i32.const 1284) (call $l3 (local.get $y2) (i32.const 1168))))
)
