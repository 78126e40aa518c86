// Root layout, which the App Router requires even though this sample serves only route handlers.
export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
