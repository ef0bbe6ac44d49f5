#!/bin/sh
# app.sh: the cgibench reference app in POSIX sh (runs under dash), GET requests only.
#
# The contract is scripts/README.md and the oracle scripts/go/refapp. This app reads
# REQUEST_METHOD, QUERY_STRING and HTTP_COOKIE; it never reads a body, so for GET requests its
# stdout is byte-identical to refapp.Handle(req).CGI().
#
# How: one `od` turns the three strings into hex byte tokens; a loop decodes and re-escapes
# them byte by byte. Every output key and value is escape(unescape(x)), so the app never needs
# the decoded bytes themselves, only their escaped form: a %XX naming an unreserved byte becomes
# that character, any other byte becomes %XX in uppercase hex. One `sort` orders the lines.

LC_ALL=C
export LC_ALL
set -f

method=${REQUEST_METHOD-}
query=${QUERY_STRING-}
cookie=${HTTP_COOKIE-}

# esc sets e to the escaped form of the byte whose lowercase hex is $1.
esc() {
	case $1 in
	3[0-9]) e=${1#3} ;;
	41) e=A ;; 42) e=B ;; 43) e=C ;; 44) e=D ;; 45) e=E ;; 46) e=F ;; 47) e=G ;;
	48) e=H ;; 49) e=I ;; 4a) e=J ;; 4b) e=K ;; 4c) e=L ;; 4d) e=M ;; 4e) e=N ;;
	4f) e=O ;; 50) e=P ;; 51) e=Q ;; 52) e=R ;; 53) e=S ;; 54) e=T ;; 55) e=U ;;
	56) e=V ;; 57) e=W ;; 58) e=X ;; 59) e=Y ;; 5a) e=Z ;;
	61) e=a ;; 62) e=b ;; 63) e=c ;; 64) e=d ;; 65) e=e ;; 66) e=f ;; 67) e=g ;;
	68) e=h ;; 69) e=i ;; 6a) e=j ;; 6b) e=k ;; 6c) e=l ;; 6d) e=m ;; 6e) e=n ;;
	6f) e=o ;; 70) e=p ;; 71) e=q ;; 72) e=r ;; 73) e=s ;; 74) e=t ;; 75) e=u ;;
	76) e=v ;; 77) e=w ;; 78) e=x ;; 79) e=y ;; 7a) e=z ;;
	2d) e=- ;; 2e) e=. ;; 5f) e=_ ;; 7e) e='~' ;;
	*)
		e=%
		for x in "${1%?}" "${1#?}"; do
			case $x in a) x=A ;; b) x=B ;; c) x=C ;; d) x=D ;; e) x=E ;; f) x=F ;; esac
			e=$e$x
		done
		;;
	esac
}

# hexdigit sets d to the lowercase hex digit the byte $1 spells, or fails.
hexdigit() {
	case $1 in
	3[0-9]) d=${1#3} ;;
	41 | 61) d=a ;; 42 | 62) d=b ;; 43 | 63) d=c ;;
	44 | 64) d=d ;; 45 | 65) d=e ;; 46 | 66) d=f ;;
	*) return 1 ;;
	esac
}

# Output lines collect here as "SECTION kKEY SEQ LINE" for one sort at the end (the k keeps an
# empty key a field of its own).
lines=
seq=0
status=
work=
visits=

# emit appends $1 to the key or, after the piece's first '=', to the value.
emit() {
	if [ -n "$inval" ]; then val=$val$1; else key=$key$1; fi
}

# query_pair ends one query piece.
query_pair() {
	if [ -n "$piece" ]; then
		seq=$((seq + 1))
		lines="${lines}1 k$key $seq query.$key=$val
"
		case $key in
		status) status=$val ;;
		work) work=$val ;;
		esac
	fi
	key= val= inval= piece= pct=
	return 0
}

# cookie_pair ends one cookie piece (blanks after its last other byte are dropped).
cookie_pair() {
	if [ -n "$inval" ]; then
		seq=$((seq + 1))
		lines="${lines}2 k$key $seq cookie.$key=$val
"
		[ "$key" = visits ] && visits=$val
	fi
	key= val= inval= piece= blanks=
}

# query_end ends the query: a % still pending is literal, and the last piece is a pair.
query_end() {
	[ -n "$pct" ] && emit "%25${pct#%}"
	query_pair
	qdone=1
}

hex=$(printf '%s%s%s' "$method" "$query" "$cookie" | od -An -v -tx1)
mend=${#method}
qend=$((mend + ${#query}))
out_method=
i=0
key= val= inval= piece= pct= blanks= qdone=
for h in $hex; do
	i=$((i + 1))
	if [ "$i" -le "$mend" ]; then
		esc "$h"
		out_method=$out_method$e
		continue
	fi
	if [ "$i" -le "$qend" ]; then
		# A pending % waits for two hex digits (pct holds "%", then "%" and the first digit
		# as written, with its lowercase value in p1); any other byte makes it literal.
		if [ -n "$pct" ]; then
			if hexdigit "$h"; then
				if [ "$pct" = % ]; then
					esc "$h"
					pct=%$e p1=$d
				else
					esc "$p1$d"
					emit "$e"
					pct=
				fi
				continue
			fi
			emit "%25${pct#%}"
			pct=
		fi
		[ "$h" = 26 ] && query_pair && continue
		piece=1
		case $h in
		3d) if [ -n "$inval" ]; then val=$val%3D; else inval=1; fi ;;
		2b) emit %20 ;;
		25) pct=% ;;
		*)
			esc "$h"
			emit "$e"
			;;
		esac
		continue
	fi
	[ -z "$qdone" ] && query_end
	# The cookie header: blanks count only between other bytes, so they are held back until
	# one follows.
	case $h in
	3b) cookie_pair ;;
	20) [ -n "$piece" ] && blanks=$blanks%20 ;;
	09) [ -n "$piece" ] && blanks=$blanks%09 ;;
	*)
		piece=1
		emit "$blanks"
		blanks=
		if [ "$h" = 3d ] && [ -z "$inval" ]; then
			inval=1
		else
			esc "$h"
			emit "$e"
		fi
		;;
	esac
done
[ -z "$qdone" ] && query_end
cookie_pair

if [ "${#status}" -eq 3 ]; then
	case $status in
	204 | 304) ;;
	[2-5][0-9][0-9]) printf 'Status: %s Set By Query\n' "$status" ;;
	esac
fi
n=0
case $visits in
'' | *[!0-9]*) ;;
*)
	if [ "${#visits}" -le 9 ]; then
		n=${visits#"${visits%%[!0]*}"}
		n=${n:-0}
	fi
	;;
esac
printf 'Content-Type: text/plain; charset=utf-8\nSet-Cookie: visits=%s; Path=/\n\nmethod=%s\n' \
	"$((n + 1))" "$out_method"

# Sort by section, then escaped key (bytes, as LC_ALL=C), then arrival; print the lines alone.
if [ "$seq" -gt 1 ]; then
	printf '%s' "$lines" | sort -t ' ' -k1,1n -k2,2 -k3,3n | while read -r _ _ _ line; do
		printf '%s\n' "$line"
	done
elif [ "$seq" -eq 1 ]; then
	printf '%s' "${lines#* * * }"
fi

case $work in
'' | *[!0-9]*) ;;
*)
	if [ "${#work}" -le 9 ]; then
		n=${work#"${work%%[!0]*}"}
		n=${n:-0}
		if [ "$n" -le 100000000 ]; then
			# MINSTD, eight steps per loop turn to keep the shell's overhead down; every
			# intermediate stays below 2^47.
			x=1 i=$n
			while [ "$i" -ge 8 ]; do
				x=$((x * 48271 % 2147483647 * 48271 % 2147483647 * 48271 % 2147483647 * 48271 % 2147483647))
				x=$((x * 48271 % 2147483647 * 48271 % 2147483647 * 48271 % 2147483647 * 48271 % 2147483647))
				i=$((i - 8))
			done
			while [ "$i" -gt 0 ]; do
				x=$((x * 48271 % 2147483647))
				i=$((i - 1))
			done
			printf 'work=%s;result=%s\n' "$n" "$x"
		fi
	fi
	;;
esac
